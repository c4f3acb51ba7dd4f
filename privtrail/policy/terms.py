"""Which terms of an event the policy does not define (the UNKNOWN_TERM rule's input).

Kept apart from the models because the engine calls it on every event: it reads only the
precomputed frozensets of :class:`~privtrail.policy.models.PolicyIndex`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privtrail.policy.models import PolicyIndex


def _scope_known(index: PolicyIndex, scope: str) -> bool:
    prefix = index.third_party_prefix
    return scope in index.scopes or (scope.startswith(prefix) and len(scope) > len(prefix))


_WITH_ITEMS = frozenset(
    {"used", "disclosed", "collected", "correction_requested", "archived", "destroyed"}
)


_NONE: list[str] = []  # shared "no unknown terms"; callers treat the result as read-only


def unknown_terms(index: PolicyIndex, event: Any) -> list[str]:
    """``["items:foo", "purpose:bar"]``: unknown terms as ``field:term``, in field order.

    The engine calls this on every event; the clean case returns a shared empty list
    without allocating, so the result must not be mutated (``Policy.unknown_terms``
    returns a copy).
    """
    kind = event.type
    # Fast path for the two commonest types: set checks in C, no allocation.
    if kind == "used":
        if (
            event.purpose in index.purposes
            and event.operation in index.operations
            and index.items.issuperset(event.items)
        ):
            return _NONE
    elif kind == "collected" and (
        event.context in index.contexts
        and event.method in index.methods
        and index.items.issuperset(event.items)
        and index.purposes.issuperset(event.purposes)
    ):
        return _NONE
    out: list[str] = []
    if kind in _WITH_ITEMS:
        known = index.items
        for item in event.items:
            if item not in known:
                out.append(f"items:{item}")
    if kind == "collected":
        if event.context not in index.contexts:
            out.append(f"context:{event.context}")
        if event.method not in index.methods:
            out.append(f"method:{event.method}")
        for purpose in event.purposes:
            if purpose not in index.purposes:
                out.append(f"purposes:{purpose}")
    elif kind == "used":
        if event.purpose not in index.purposes:
            out.append(f"purpose:{event.purpose}")
        if event.operation not in index.operations:
            out.append(f"operation:{event.operation}")
    elif kind == "disclosed":
        if event.purpose not in index.purposes:
            out.append(f"purpose:{event.purpose}")
        if event.basis not in index.bases:
            out.append(f"basis:{event.basis}")
    elif kind in ("consent_given", "consent_withdrawn"):
        if not _scope_known(index, event.scope):
            out.append(f"scope:{event.scope}")
    elif kind == "access_requested":
        if event.channel not in index.channels:
            out.append(f"channel:{event.channel}")
    elif kind == "destroyed" and event.method not in index.destruction_methods:
        out.append(f"method:{event.method}")
    if not out:
        return _NONE
    # A term repeated in one event is reported once.
    return list(dict.fromkeys(out)) if len(out) > 1 else out
