"""Deadline rules: clocks started by events, closed by later events, fired when missed.

A deadline at ``due_at`` is met by a closing event at or before ``due_at`` and missed
once time is strictly past it. A missed deadline raises its alert exactly once, naming
the event that started the clock, whichever comes first: a timer (``due``) or the next
event of the subject (a late closing event included, since the subject engine fires
what is due before judging any event). The alert is the same either way, so verdicts do
not depend on timer timing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from privtrail.alerts import Alert
from privtrail.engine.catalog import (
    ACCESS_OVERDUE,
    CORRECTION_NOT_PROPAGATED,
    CORRECTION_OVERDUE,
    DESTRUCTION_OVERDUE,
    make_alert,
    terms,
)
from privtrail.engine.state import Deadline, SubjectState
from privtrail.events import format_timestamp
from privtrail.policy.duration import Duration
from privtrail.policy.models import PolicyIndex


def start(
    state: SubjectState, kind: str, idx: PolicyIndex, event: Any, period: Duration, **extra: Any
) -> Deadline:
    """Start a clock of ``period`` at ``event`` and register it on ``state``."""
    deadline = Deadline(
        kind=kind,
        due_at=period.add_to(event.occurred_at),
        event_id=event.event_id,
        started_at=event.occurred_at,
        policy_version=event.policy_version or idx.version_at(event.occurred_at),
        actor_id=event.actor.id,
        period=str(period),
        **extra,
    )
    state.add_deadline(deadline)
    return deadline


def start_retention(state: SubjectState, idx: PolicyIndex, event: Any, items: list[str]) -> None:
    """One clock per `collected` event over its record items (retention + grace each)."""
    dues: dict[str, datetime] | None = None
    retention = idx.retention
    for item in items:
        period = retention.get(item)
        if period is not None:
            if dues is None:
                dues = {}
            dues[item] = idx.destruction_grace.add_to(period.add_to(event.occurred_at))
    if dues:
        state.add_deadline(
            Deadline(
                kind="retention",
                due_at=min(dues.values()),
                event_id=event.event_id,
                started_at=event.occurred_at,
                policy_version=event.policy_version or idx.version_at(event.occurred_at),
                actor_id=event.actor.id,
                period=f"retention+{idx.destruction_grace}",
                items=dues,
            )
        )


def close(state: SubjectState, kind: str, request_id: str, recipient: str | None = None) -> None:
    """Remove the pending ``kind`` clocks of ``request_id`` (and ``recipient``)."""
    pending = state.deadlines
    if not pending:
        return
    keep = [
        d
        for d in pending
        if not (d.kind == kind and d.request_id == request_id and d.recipient == recipient)
    ]
    if len(keep) != len(pending):
        state.set_deadlines(keep)


def destroy_items(state: SubjectState, items: list[str]) -> None:
    """Destroyed items stop every retention clock running on them."""
    if not state.deadlines:
        return
    changed = False
    keep: list[Deadline] = []
    for d in state.deadlines:
        if d.kind == "retention" and d.items is not None:
            remaining = {i: t for i, t in d.items.items() if i not in items}
            if len(remaining) != len(d.items):
                changed = True
                if not remaining:
                    continue
                d.items = remaining
                d.due_at = min(remaining.values())
        keep.append(d)
    if changed:
        state.set_deadlines(keep)


def due(idx: PolicyIndex, state: SubjectState, now: datetime) -> list[Alert]:
    """Alerts for every deadline of ``state`` missed by ``now`` (due strictly before it)."""
    nxt = state.next_due_at
    if nxt is None or not nxt < now:
        return []
    out: list[Alert] = []
    keep: list[Deadline] = []
    for d in sorted(state.deadlines or (), key=lambda d: d.due_at):
        if not d.due_at < now:
            keep.append(d)
            continue
        alert = _missed(idx, state, d, now)
        if alert is not None:
            out.append(alert)
    state.set_deadlines(keep)
    return out


def _alert(
    state: SubjectState, rule: str, d: Deadline, message: str, evidence: dict[str, Any]
) -> Alert:
    evidence.update(
        deadline=d.period,
        started_at=format_timestamp(d.started_at),
        due_at=format_timestamp(d.due_at),
    )
    return make_alert(
        rule,
        event_id=d.event_id,
        subject_id=state.subject_id,
        occurred_at=d.started_at,
        policy_version=d.policy_version,
        actor_id=d.actor_id,
        message=message,
        evidence=evidence,
    )


def _missed(idx: PolicyIndex, state: SubjectState, d: Deadline, now: datetime) -> Alert | None:
    if d.kind == "correction":
        corr = (state.corrections or {}).get(d.request_id or "")
        items = list(corr.items) if corr is not None else []
        return _alert(
            state,
            CORRECTION_OVERDUE,
            d,
            f"correction request '{d.request_id}' of {terms(items)} "
            f"not completed within {d.period}",
            {"request_id": d.request_id, "items": items},
        )
    if d.kind == "access":
        return _alert(
            state,
            ACCESS_OVERDUE,
            d,
            f"access request '{d.request_id}' not fulfilled within {d.period}",
            {"request_id": d.request_id},
        )
    if d.kind == "notify":
        items = sorted(d.items or ())
        return _alert(
            state,
            CORRECTION_NOT_PROPAGATED,
            d,
            f"recipient '{d.recipient}' got {terms(items)} before correction "
            f"'{d.request_id}' and was not notified within {d.period}",
            {"recipient": d.recipient, "request_id": d.request_id, "items": items},
        )
    if d.kind == "withdrawal":
        retention = idx.retention
        gone = state.destroyed or ()
        held = sorted(i for i in state.purposes if i not in gone and i not in retention)
        if not held:
            return None
        return _alert(
            state,
            DESTRUCTION_OVERDUE,
            d,
            f"{terms(held)} still held {d.period} after the subject's withdrawal",
            {"items": held, "cause": "withdrawal"},
        )
    # retention: every item still on the clock and past its own due instant
    overdue = sorted(i for i, t in (d.items or {}).items() if t < now)
    retention = idx.retention
    return _alert(
        state,
        DESTRUCTION_OVERDUE,
        d,
        f"{terms(overdue)} not destroyed within the retention period "
        f"plus {idx.destruction_grace} after collection",
        {
            "items": overdue,
            "cause": "retention",
            "retention": {i: str(retention[i]) for i in overdue if i in retention},
        },
    )
