"""Rules that judge one event alone, with no history.

For events with a subject, :class:`~privtrail.engine.subject.SubjectEngine` calls
:func:`event_alerts` (so each such alert is raised by the subject side only). For the
no-subject events (``policy_published``, ``handler_*``) :func:`evaluate_stateless` is the
one place these rules run; the Engine facade and the stream processors both call it.
"""

from __future__ import annotations

from typing import Any

from privtrail.alerts import Alert
from privtrail.engine.catalog import (
    DISCLOSURE_WITHOUT_BASIS,
    DOWNLOAD_WITHOUT_REASON,
    IDENTIFIABLE_STATISTICS,
    NOTICE_PERIOD_SHORT,
    OVER_COLLECTION,
    RULES,
    UNAUTHORIZED_PROCESSOR,
    UNDECLARED_PURPOSE,
    UNKNOWN_TERM,
    terms,
)
from privtrail.events import format_timestamp
from privtrail.policy.models import Policy, PolicyIndex
from privtrail.policy.terms import unknown_terms


def event_alert(
    idx: PolicyIndex, rule: str, event: Any, message: str, evidence: dict[str, Any]
) -> Alert:
    """An alert raised by ``event`` itself (not by a deadline it started)."""
    return Alert(
        rule=rule,
        event_id=event.event_id,
        subject_id=event.subject_id,
        severity=RULES[rule],
        message=message,
        occurred_at=event.occurred_at,
        policy_version=event.policy_version or idx.version_at(event.occurred_at),
        actor_id=event.actor.id,
        evidence=evidence,
    )


def known_items(index: PolicyIndex, event: Any, unknown: list[str]) -> list[str]:
    """The event's items the policy defines, in event order.

    Not copied when all are known: this runs on every event, and the rules only read it.
    """
    items: list[str] = event.items
    if unknown:
        return list(dict.fromkeys(i for i in items if i in index.items))
    return items


def event_alerts(
    idx: PolicyIndex, event: Any, unknown: list[str], out: list[Alert] | None = None
) -> list[Alert]:
    """UNKNOWN_TERM and every other rule that needs only the event and the policy.

    Alerts are appended to ``out`` (a new list when None), which is returned.
    """
    if out is None:
        out = []
    if unknown:
        out.append(
            event_alert(
                idx,
                UNKNOWN_TERM,
                event,
                f"{event.type} event uses terms the policy does not define: {terms(unknown)}",
                {"terms": list(unknown)},
            )
        )
    kind = event.type
    if kind == "collected":
        _collected(idx, event, unknown, out)
    elif kind == "disclosed":
        _disclosed(idx, event, unknown, out)
    elif kind == "used" and event.operation == "download" and not event.reason:
        out.append(
            event_alert(
                idx,
                DOWNLOAD_WITHOUT_REASON,
                event,
                f"download of {terms(event.items)} for '{event.purpose}' without a reason",
                {"items": list(event.items), "purpose": event.purpose, "operation": "download"},
            )
        )
    elif kind == "policy_published":
        _notice(idx, event, out)
    return out


def evaluate_stateless(policy: Policy, event: Any) -> list[Alert]:
    """Alerts for a no-subject event; ``[]`` for subject events (the subject side owns them)."""
    if event.subject_id is not None:
        return []
    idx = policy.index
    return event_alerts(idx, event, unknown_terms(idx, event))


def _collected(idx: PolicyIndex, event: Any, unknown: list[str], out: list[Alert]) -> None:
    context = event.context
    if context not in idx.contexts:
        return  # unknown context: UNKNOWN_TERM says so; nothing to judge against
    allowed = idx.context_items[context]
    items = known_items(idx, event, unknown)
    # issuperset runs in C and allocates nothing: the common, clean case stays cheap
    extra = [i for i in items if i not in allowed] if not allowed.issuperset(items) else None
    if extra:
        out.append(
            event_alert(
                idx,
                OVER_COLLECTION,
                event,
                f"collected {terms(extra)} in context '{context}', which does not list them",
                {"items": extra, "context": context, "allowed_items": sorted(allowed)},
            )
        )
    allowed_p = idx.context_purposes[context]
    purposes = event.purposes
    bad = (
        [p for p in dict.fromkeys(purposes) if p in idx.purposes and p not in allowed_p]
        if not allowed_p.issuperset(purposes)
        else None
    )
    if bad:
        out.append(
            event_alert(
                idx,
                UNDECLARED_PURPOSE,
                event,
                f"collection in context '{context}' declares purposes {terms(bad)}, "
                "which the policy does not allow there",
                {"purposes": bad, "context": context, "allowed_purposes": sorted(allowed_p)},
            )
        )


def _disclosed(idx: PolicyIndex, event: Any, unknown: list[str], out: list[Alert]) -> None:
    basis, recipient, purpose = event.basis, event.recipient, event.purpose
    items = known_items(idx, event, unknown)
    if basis == "entrustment":
        if recipient not in idx.processors:
            out.append(
                event_alert(
                    idx,
                    UNAUTHORIZED_PROCESSOR,
                    event,
                    f"disclosure to '{recipient}' on basis 'entrustment', "
                    "but it is not an entrusted processor",
                    {
                        "recipient": recipient,
                        "basis": basis,
                        "purpose": purpose,
                        "items": list(items),
                        "processor": False,
                    },
                )
            )
        else:
            bad_purpose = (
                purpose in idx.purposes and purpose not in idx.processor_purposes[recipient]
            )
            limit = idx.processor_items[recipient]
            bad_items = [i for i in items if i not in limit] if limit is not None else []
            if bad_purpose or bad_items:
                what = []
                if bad_purpose:
                    what.append(f"purpose '{purpose}'")
                if bad_items:
                    what.append(f"items {terms(bad_items)}")
                out.append(
                    event_alert(
                        idx,
                        UNAUTHORIZED_PROCESSOR,
                        event,
                        f"processor '{recipient}' is not entrusted with {' and '.join(what)}",
                        {
                            "recipient": recipient,
                            "basis": basis,
                            "purpose": purpose,
                            "items": bad_items,
                            "processor": True,
                            "entrusted_purposes": sorted(idx.processor_purposes[recipient]),
                            "entrusted_items": sorted(limit) if limit is not None else None,
                        },
                    )
                )
    elif basis == "legal_request" and not event.legal_reference:
        out.append(
            event_alert(
                idx,
                DISCLOSURE_WITHOUT_BASIS,
                event,
                f"disclosure of {terms(items)} to '{recipient}' on basis 'legal_request' "
                "names no legal reference",
                {"recipient": recipient, "basis": basis, "purpose": purpose, "items": list(items)},
            )
        )
    elif basis == "deidentified_statistics":
        ident = [i for i in items if i in idx.identifiers]
        if ident:
            out.append(
                event_alert(
                    idx,
                    IDENTIFIABLE_STATISTICS,
                    event,
                    f"'deidentified_statistics' disclosure to '{recipient}' includes "
                    f"identifiers {terms(ident)}",
                    {"recipient": recipient, "basis": basis, "purpose": purpose, "items": ident},
                )
            )


def _notice(idx: PolicyIndex, event: Any, out: list[Alert]) -> None:
    required = idx.notice_significant if event.significant else idx.notice_minimum
    earliest = required.add_to(event.announced_at)
    if event.effective_at < earliest:
        gap = event.effective_at - event.announced_at
        out.append(
            event_alert(
                idx,
                NOTICE_PERIOD_SHORT,
                event,
                f"policy version '{event.policy_version}' takes effect "
                f"{gap.total_seconds() / 86400:g} days after its announcement; "
                f"{'a significant change' if event.significant else 'a change'} needs {required}",
                {
                    "announced_at": format_timestamp(event.announced_at),
                    "effective_at": format_timestamp(event.effective_at),
                    "significant": bool(event.significant),
                    "required_notice": str(required),
                    "notice_days": round(gap.total_seconds() / 86400, 3),
                    "earliest_effective_at": format_timestamp(earliest),
                },
            )
        )
