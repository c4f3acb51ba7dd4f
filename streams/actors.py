"""The actor side: valid events re-keyed by actor, each actor's state in its own table.

The validate agent repartitions (sends each event that has an :func:`actor_key` to the
actor topic, keyed by that actor), so one actor's events meet in one partition, in order,
whatever subjects they touch. Handler authorisations and bulk-access windows live here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from privtrail.engine import ActorEngine, ActorState
from privtrail.policy import Policy
from privtrail.streams.deadletter import judge_or_dead_letter
from privtrail.streams.enforce import send_alerts
from privtrail.streams.ledger import LedgerStep

if TYPE_CHECKING:
    from privtrail.streams.app import Topology

log = logging.getLogger(__name__)


class ActorStep(LedgerStep[ActorState]):
    """Apply one event to one actor's ledger (table value bytes)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(
            ActorEngine(policy), ActorState.from_dict, lambda a: ActorState(actor_id=a)
        )


def register(topo: Topology) -> None:
    """Add the actor agent (actor topic -> actor table -> alerts)."""
    step = topo.actor_step
    actors = topo.actor_table

    @topo.app.agent(topo.actor_events, name="privtrail.actors")
    async def actor_agent(stream: Any) -> None:
        async for record in stream.events():
            key = record.key
            event = topo.decoder.decode_record(record)
            if event is None:
                continue
            if not key:
                continue  # only the validate agent writes here, always with a key
            message = record.message
            await judge_or_dead_letter(
                topo, message, "actors", judge(key, event, message.partition)
            )

    async def judge(key: bytes, event: Any, partition: int) -> None:
        # written before the next commit
        await send_alerts(topo, actors.update(key, partition, step.apply, event))
