"""The enforce step: each subject's state in a table, the subject-side rules per event.

:class:`SubjectStep` is the pure part (ledger in, alerts out) so it is tested without
Kafka. :func:`enforce_event` judges one valid event; validate calls it for the events it
judges in place, and :func:`register` adds the enforce agent that calls it for the rest
(the subject repartition topic). Events without a subject are judged by the stateless
rules, once per record.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from privtrail.alerts import Alert
from privtrail.engine import SubjectEngine, SubjectState, evaluate_stateless
from privtrail.policy import Policy
from privtrail.streams.deadletter import judge_or_dead_letter
from privtrail.streams.ledger import Ledger, LedgerStep
from privtrail.wire import encode_alert

if TYPE_CHECKING:
    from privtrail.streams.app import Topology

log = logging.getLogger(__name__)


class SubjectStep(LedgerStep[SubjectState]):
    """Apply events and deadline ticks to one subject's ledger (table value bytes)."""

    engine: SubjectEngine

    def __init__(self, policy: Policy) -> None:
        super().__init__(
            SubjectEngine(policy), SubjectState.from_dict, lambda s: SubjectState(subject_id=s)
        )

    def tick(
        self, ledger: Ledger[SubjectState], tick_id: str, now: datetime
    ) -> tuple[list[Alert], bool]:
        """Fire what is due at ``now`` in place, once: (alerts to send, replayed).
        ``tick_id`` makes a replayed tick harmless."""
        engine = self.engine
        return ledger.once(tick_id, lambda state: engine.due(state, now))


def alert_key(alert: Alert) -> bytes | None:
    """Alerts are keyed by subject, so one subject's alerts stay in order."""
    return alert.subject_id.encode() if alert.subject_id is not None else None


async def send_alerts(topo: Topology, alerts: list[Alert]) -> None:
    for alert in alerts:
        await topo.send(topo.alerts, alert_key(alert), encode_alert(alert))


async def enforce_event(topo: Topology, key: bytes | None, event: Any, partition: int) -> None:
    """Judge one valid event: the subject-side rules on its subject's ledger (``key``,
    held in table partition ``partition``), or the stateless rules for an event without a
    subject (``key`` None); send the alerts."""
    if key is None:
        await send_alerts(topo, evaluate_stateless(topo.policy, event))
        return
    # written, with the deadline index, before the next commit
    alerts = topo.subject_table.update(key, partition, topo.subject_step.apply, event)
    await send_alerts(topo, alerts)


def register(topo: Topology) -> None:
    """Add the enforce agent (subject repartition topic -> subject table -> alerts): the
    events validate could not enforce in place (docs/streams.md, Topology)."""

    @topo.app.agent(topo.subject_events, name="privtrail.enforce")
    async def enforce(stream: Any) -> None:
        async for record in stream.events():
            event = topo.decoder.decode_record(record)
            if event is None:
                continue
            subject = event.subject_id
            key = subject.encode() if subject is not None else None
            message = record.message
            await judge_or_dead_letter(
                topo, message, "enforce", enforce_event(topo, key, event, message.partition)
            )
