"""Subject-side rules: everything judged against one data subject's history.

:class:`SubjectEngine` is stateless itself; the caller owns one :class:`SubjectState`
per subject (a dict in the Engine facade, a Faust table in the stream processors) and
feeds it that subject's events in ``occurred_at`` order. For subject events this side
also raises the single-event rules (UNKNOWN_TERM, DOWNLOAD_WITHOUT_REASON, ...), so each
alert has exactly one producer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from privtrail.alerts import Alert
from privtrail.engine import deadlines, rights
from privtrail.engine.catalog import (
    ANALYTICS,
    ARCHIVE_MISUSE,
    DISCLOSURE_WITHOUT_BASIS,
    MARKETING,
    MARKETING_WITHOUT_CONSENT,
    NOT_COLLECTED,
    OPTED_OUT_COLLECTION,
    PURPOSE_VIOLATION,
    RULES,
    USE_AFTER_DESTRUCTION,
    USE_AFTER_WITHDRAWAL,
    USE_DURING_CORRECTION,
    terms,
)
from privtrail.engine.state import SubjectState
from privtrail.engine.stateless import event_alert, event_alerts, known_items
from privtrail.policy.models import Policy
from privtrail.policy.terms import unknown_terms

_ORDER = {rule: i for i, rule in enumerate(RULES)}


def _by_rule(alert: Alert) -> int:
    return _ORDER[alert.rule]


class _Verb:
    """'use' or "disclosure to 'x'", formatted only if a message needs it."""

    __slots__ = ("event",)

    def __init__(self, event: Any) -> None:
        self.event = event

    def __format__(self, spec: str) -> str:
        event = self.event
        return "use" if event.type == "used" else f"disclosure to '{event.recipient}'"


class SubjectEngine:
    """Evaluates subject-side rules and applies events to a :class:`SubjectState`."""

    __slots__ = ("policy", "_index", "_handlers")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._index = idx = policy.index
        self._handlers: dict[str, Callable[[SubjectState, Any, list[str], list[Alert]], None]]
        self._handlers = {
            "collected": self._collected,
            "used": self._use,
            "disclosed": self._use,
            "consent_given": self._consent_given,
            "consent_withdrawn": self._consent_withdrawn,
            "correction_requested": partial(rights.correction_requested, idx),
            "corrected": partial(rights.corrected, idx),
            "recipient_notified": partial(rights.recipient_notified, idx),
            "access_requested": partial(rights.access_requested, idx),
            "identity_verified": partial(rights.identity_verified, idx),
            "access_fulfilled": partial(rights.access_fulfilled, idx),
            "withdrawal_requested": partial(rights.withdrawal_requested, idx),
            "archived": self._archived,
            "destroyed": self._destroyed,
        }

    def new_state(self, subject_id: str) -> SubjectState:
        return SubjectState(subject_id=subject_id)

    def due(self, state: SubjectState, now: datetime) -> list[Alert]:
        """Deadline alerts of this subject missed by ``now``; each fires once."""
        return deadlines.due(self._index, state, now)

    def process(self, state: SubjectState, event: Any) -> list[Alert]:
        """Fire what fell due before the event, judge the event, then apply it to ``state``."""
        idx = self._index
        t = event.occurred_at
        nxt = state.next_due_at
        out = deadlines.due(idx, state, t) if nxt is not None and nxt < t else []
        handler = self._handlers.get(event.type)
        if handler is None:
            return out  # a no-subject type: not ours (see evaluate_stateless)
        unknown = unknown_terms(idx, event)
        start = len(out)
        event_alerts(idx, event, unknown, out)
        handler(state, event, unknown, out)
        if len(out) - start > 1:  # one event's alerts in catalogue order
            out[start:] = sorted(out[start:], key=_by_rule)
        return out

    # -- collection and consent ----------------------------------------------------------

    def _collected(
        self, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
    ) -> None:
        idx = self._index
        if event.context == ANALYTICS and state.opted_out and ANALYTICS in state.opted_out:
            out.append(
                event_alert(
                    self._index,
                    OPTED_OUT_COLLECTION,
                    event,
                    "collection in context 'analytics' after the subject withdrew "
                    "'analytics' consent",
                    {"context": ANALYTICS, "items": list(event.items)},
                )
            )
        items = known_items(idx, event, unknown)
        purposes = tuple(p for p in event.purposes if p in idx.purposes)
        held = state.purposes
        destroyed, archived = state.destroyed, state.archived
        for item in items:
            declared = held.get(item)
            if declared is None or (destroyed and item in destroyed):
                # Held again: the new copy carries only the purposes declared now.
                held[item] = purposes
                if destroyed:
                    destroyed.discard(item)
            elif declared != purposes:
                held[item] = tuple(dict.fromkeys(declared + purposes))
            if archived:
                archived.discard(item)
        if not idx.retention.keys().isdisjoint(items):  # in C, no allocation
            deadlines.start_retention(state, idx, event, items)

    def _consent_given(
        self, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
    ) -> None:
        if not unknown:
            if state.consents is None:
                state.consents = set()
            state.consents.add(event.scope)
            if state.opted_out:
                state.opted_out.discard(event.scope)

    def _consent_withdrawn(
        self, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
    ) -> None:
        if not unknown:
            if state.consents:
                state.consents.discard(event.scope)
            if state.opted_out is None:
                state.opted_out = set()
            state.opted_out.add(event.scope)

    # -- use and disclosure --------------------------------------------------------------

    def _use(self, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]) -> None:
        idx = self._index
        items = known_items(idx, event, unknown)
        purpose = event.purpose
        known_purpose = purpose in idx.purposes
        exempt = purpose in idx.exempt_purposes
        declared = state.purposes
        verb = _Verb(event)

        missing = None
        for item in items:
            if item not in declared:
                missing = [i for i in items if i not in declared]
                break
        if missing:
            out.append(
                event_alert(
                    idx,
                    NOT_COLLECTED,
                    event,
                    f"{verb} of {terms(missing)}, never collected for this subject",
                    {"items": missing, "purpose": purpose},
                )
            )
        if known_purpose and not exempt:
            bad = None
            for item in items:
                held = declared.get(item)
                if held is not None and purpose not in held:
                    bad = [i for i in items if i in declared and purpose not in declared[i]]
                    break
            if bad:
                out.append(
                    event_alert(
                        idx,
                        PURPOSE_VIOLATION,
                        event,
                        f"{verb} of {terms(bad)} for '{purpose}', not declared when collected",
                        {
                            "items": bad,
                            "purpose": purpose,
                            "declared_purposes": {i: sorted(declared[i]) for i in bad},
                        },
                    )
                )
        consents = state.consents
        if purpose == MARKETING and not (consents and MARKETING in consents):
            out.append(
                event_alert(
                    idx,
                    MARKETING_WITHOUT_CONSENT,
                    event,
                    f"{verb} of {terms(items)} for 'marketing' without an active marketing consent",
                    {"items": list(items), "purpose": purpose},
                )
            )
        if event.type == "disclosed":
            self._disclosure(state, event, items, out)
        corrections = state.corrections
        if corrections:
            request_id = getattr(event, "request_id", None)
            open_ids = sorted(
                rid
                for rid, corr in corrections.items()
                if rid != request_id and any(i in corr.items for i in items)
            )
            if open_ids:
                under = sorted(
                    {i for rid in open_ids for i in corrections[rid].items if i in items}
                )
                out.append(
                    event_alert(
                        idx,
                        USE_DURING_CORRECTION,
                        event,
                        f"{verb} of {terms(under)} while correction {terms(open_ids)} is open",
                        {"items": under, "purpose": purpose, "request_ids": open_ids},
                    )
                )
        destroyed = state.destroyed
        if destroyed:
            gone = [i for i in items if i in destroyed]
            if gone:
                out.append(
                    event_alert(
                        idx,
                        USE_AFTER_DESTRUCTION,
                        event,
                        f"{verb} of {terms(gone)} after they were destroyed",
                        {"items": gone, "purpose": purpose},
                    )
                )
        archived = state.archived
        if archived and not exempt:
            arch = [i for i in items if i in archived]
            if arch:
                out.append(
                    event_alert(
                        idx,
                        ARCHIVE_MISUSE,
                        event,
                        f"{verb} of archived {terms(arch)} for '{purpose}'",
                        {"items": arch, "purpose": purpose},
                    )
                )
        if state.withdrawal_event is not None and not exempt:
            out.append(
                event_alert(
                    idx,
                    USE_AFTER_WITHDRAWAL,
                    event,
                    f"{verb} of {terms(items)} for '{purpose}' after the subject withdrew",
                    {
                        "items": list(items),
                        "purpose": purpose,
                        "withdrawal_event_id": state.withdrawal_event,
                    },
                )
            )

    def _disclosure(
        self, state: SubjectState, event: Any, items: list[str], out: list[Alert]
    ) -> None:
        recipient = event.recipient
        if (
            event.basis == "consent"
            and recipient not in self._index.processors
            and not (
                state.consents and self._index.third_party_prefix + recipient in state.consents
            )
        ):
            out.append(
                event_alert(
                    self._index,
                    DISCLOSURE_WITHOUT_BASIS,
                    event,
                    f"disclosure of {terms(items)} to third party '{recipient}' on basis "
                    f"'consent' without an active '{self._index.third_party_prefix}{recipient}' "
                    "consent",
                    {
                        "recipient": recipient,
                        "basis": "consent",
                        "purpose": event.purpose,
                        "items": list(items),
                    },
                )
            )
        if state.recipients is None:
            state.recipients = {}
        got = state.recipients.get(recipient)
        if got is None:
            state.recipients[recipient] = set(items)
        else:
            got.update(items)

    # -- archive and destruction ---------------------------------------------------------

    def _archived(
        self, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
    ) -> None:
        items = [i for i in known_items(self._index, event, unknown) if state.held(i)]
        if items:
            if state.archived is None:
                state.archived = set()
            state.archived.update(items)

    def _destroyed(
        self, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
    ) -> None:
        items = known_items(self._index, event, unknown)
        for item in items:
            if item in state.purposes:
                if state.destroyed is None:
                    state.destroyed = set()
                state.destroyed.add(item)
            if state.archived:
                state.archived.discard(item)
        deadlines.destroy_items(state, items)
