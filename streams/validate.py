"""The validate step: decode and check each record; the valid go on, the rest to the DLQ.

Nothing is dropped. A record that cannot be decoded (bad magic, unknown schema
fingerprint, corrupt body) or that breaks the contract goes to the dead-letter topic
unchanged: the value is the original bytes and the key the original key, and the reason
and source travel in headers (the convention of Kafka Connect's DLQ), so the original
can be inspected or replayed byte for byte.

A valid event is forwarded as the same bytes, keyed by subject (no key for no-subject
events), to the valid topic, the history's input. It is then enforced: in place when it
arrived on its subject's partition (the SDK keys by subject, so on an events topic with
the tables' partition count all its events do), else through the subject repartition
topic. When an actor-side rule may apply it also goes to the actor topic keyed by actor.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from privtrail.engine import actor_key
from privtrail.errors import ContractError, WireError
from privtrail.streams.deadletter import Rejection, dead_letter, judge_or_dead_letter
from privtrail.streams.enforce import enforce_event
from privtrail.wire import decode_event

if TYPE_CHECKING:
    from privtrail.streams.app import Topology

log = logging.getLogger(__name__)


def classify(value: bytes | None) -> Any | Rejection:
    """The decoded event, or a :class:`Rejection` saying why not."""
    if value is None:
        return Rejection("wire", "record has no value (tombstone)")
    try:
        return decode_event(value)
    except WireError as exc:
        return Rejection("wire", str(exc))
    except ContractError as exc:
        return Rejection("contract", exc.reason, exc.field)
    except Exception as exc:  # a decoder bug must not stop the stream: DLQ it, say what
        return Rejection("internal", f"{type(exc).__name__}: {exc}")


async def validate_message(topo: Topology, msg: Any) -> None:
    """Everything validate does with one record of the events topic."""
    verdict = classify(msg.value)
    if isinstance(verdict, Rejection):
        await dead_letter(topo, msg, verdict)
        return
    subject = verdict.subject_id
    key = subject.encode() if subject is not None else None
    await topo.send(topo.valid, key, msg.value)  # the history's input (the sink)
    if key is None or topo.in_place(key, msg.topic, msg.partition):
        await judge_or_dead_letter(
            topo, msg, "enforce", enforce_event(topo, key, verdict, msg.partition)
        )
    else:  # another partition's subject: to its owner, through the repartition topic
        topo.decoder.remember(msg.value, verdict)
        await topo.send(topo.subject_events, key, msg.value)
    actor = actor_key(verdict)
    if actor is not None:
        topo.decoder.remember(msg.value, verdict)
        await topo.send(topo.actor_events, actor.encode(), msg.value)


def register(topo: Topology) -> None:
    """Add the validate agent (events topic -> valid topic, in-place judging, the
    repartition topics or the DLQ)."""

    @topo.app.agent(topo.events, name="privtrail.validate")
    async def validate(stream: Any) -> None:
        async for record in stream.events():
            await validate_message(topo, record.message)
