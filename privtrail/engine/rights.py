"""Rights handlers (PIPA 제35조-제37조, policy §7): correction, access, withdrawal.

Subject-side handlers for the rights events, split from :mod:`subject` to keep each
module about one concept. Each takes the policy index, the subject's state, the event,
its unknown terms and the list to append alerts to.
"""

from __future__ import annotations

from typing import Any

from privtrail.alerts import Alert
from privtrail.engine import deadlines
from privtrail.engine.catalog import ACCESS_UNVERIFIED
from privtrail.engine.state import Correction, SubjectState
from privtrail.engine.stateless import event_alert, known_items
from privtrail.policy.models import PolicyIndex


def correction_requested(
    idx: PolicyIndex, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
) -> None:
    items = tuple(known_items(idx, event, unknown))
    if state.corrections is None:
        state.corrections = {}
    state.corrections[event.request_id] = Correction(event_id=event.event_id, items=items)
    deadlines.close(state, "correction", event.request_id)  # a re-request restarts it
    deadlines.start(
        state,
        "correction",
        idx,
        event,
        idx.correction_deadline,
        request_id=event.request_id,
    )


def corrected(
    idx: PolicyIndex, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
) -> None:
    rid = event.request_id
    corr = state.corrections.pop(rid, None) if state.corrections else None
    deadlines.close(state, "correction", rid)
    if corr is None:
        return  # no open request under that id: nothing to propagate
    for recipient, got in sorted((state.recipients or {}).items()):
        overlap = [i for i in corr.items if i in got]
        if overlap:
            deadline = deadlines.start(
                state,
                "notify",
                idx,
                event,
                idx.notify_deadline,
                request_id=rid,
                recipient=recipient,
            )
            deadline.items = dict.fromkeys(overlap, deadline.due_at)


def recipient_notified(
    idx: PolicyIndex, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
) -> None:
    deadlines.close(state, "notify", event.request_id, event.recipient)


def access_requested(
    idx: PolicyIndex, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
) -> None:
    deadlines.close(state, "access", event.request_id)
    deadlines.start(
        state,
        "access",
        idx,
        event,
        idx.access_deadline,
        request_id=event.request_id,
    )


def identity_verified(
    idx: PolicyIndex, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
) -> None:
    if state.verified is None:
        state.verified = set()
    state.verified.add(event.request_id)


def access_fulfilled(
    idx: PolicyIndex, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
) -> None:
    rid = event.request_id
    if not (state.verified and rid in state.verified):
        out.append(
            event_alert(
                idx,
                ACCESS_UNVERIFIED,
                event,
                f"access request '{rid}' fulfilled without verifying the requester's identity",
                {"request_id": rid},
            )
        )
    deadlines.close(state, "access", rid)


def withdrawal_requested(
    idx: PolicyIndex, state: SubjectState, event: Any, unknown: list[str], out: list[Alert]
) -> None:
    if state.withdrawal_event is None:
        state.withdrawal_event = event.event_id
    deadlines.start(state, "withdrawal", idx, event, idx.destruction_grace)
