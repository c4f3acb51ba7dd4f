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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from privtrail.engine import actor_key
from privtrail.errors import ContractError, WireError
from privtrail.streams.enforce import enforce_event
from privtrail.wire import decode_event

if TYPE_CHECKING:
    from privtrail.streams.app import Topology

log = logging.getLogger(__name__)

# DLQ headers (values are UTF-8 bytes).
H_KIND = "privtrail.error.kind"  # wire | contract | internal
H_REASON = "privtrail.error.reason"
H_FIELD = "privtrail.error.field"  # contract errors: the offending field
H_TOPIC = "privtrail.source.topic"
H_PARTITION = "privtrail.source.partition"
H_OFFSET = "privtrail.source.offset"
H_TIMESTAMP = "privtrail.source.timestamp"  # ms since the epoch, from the source record


@dataclass(frozen=True, slots=True)
class Rejection:
    kind: str
    reason: str
    field: str | None = None


def classify(value: bytes | None, decode: Callable[[bytes], Any] = decode_event) -> Any | Rejection:
    """The decoded event, or a :class:`Rejection` saying why not."""
    if value is None:
        return Rejection("wire", "record has no value (tombstone)")
    try:
        return decode(value)
    except WireError as exc:
        return Rejection("wire", str(exc))
    except ContractError as exc:
        return Rejection("contract", exc.reason, exc.field)
    except Exception as exc:  # a decoder bug must not stop the stream: DLQ it, say what
        return Rejection("internal", f"{type(exc).__name__}: {exc}")


def dlq_headers(
    rejection: Rejection, topic: str, partition: int, offset: int, timestamp: float | None
) -> list[tuple[str, bytes]]:
    headers = [
        (H_KIND, rejection.kind.encode()),
        (H_REASON, rejection.reason.encode()),
        (H_TOPIC, topic.encode()),
        (H_PARTITION, str(partition).encode()),
        (H_OFFSET, str(offset).encode()),
    ]
    if rejection.field is not None:
        headers.append((H_FIELD, rejection.field.encode()))
    if timestamp is not None:
        headers.append((H_TIMESTAMP, str(int(timestamp * 1000)).encode()))
    return headers


def register(topo: Topology) -> None:
    """Add the validate agent (events topic -> valid topic, actor topic or DLQ)."""

    @topo.app.agent(topo.events, name="privtrail.validate")
    async def validate(stream: Any) -> None:
        async for record in stream.events():
            msg = record.message
            verdict = classify(msg.value, topo.decoder.decode)
            if isinstance(verdict, Rejection):
                log.warning(
                    "to DLQ: %s[%d]@%d %s: %s",
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    verdict.kind,
                    verdict.reason,
                )
                await topo.send(
                    topo.dlq,
                    msg.key,
                    msg.value or b"",
                    headers=dlq_headers(
                        verdict, msg.topic, msg.partition, msg.offset, msg.timestamp
                    ),
                )
                continue
            subject = verdict.subject_id
            key = subject.encode() if subject is not None else None
            await topo.send(topo.valid, key, msg.value)  # the history's input (the sink)
            if key is None or topo.in_place(key, msg.topic, msg.partition):
                await enforce_event(topo, key, verdict, msg.partition)
            else:  # another partition's subject: to its owner, through the repartition topic
                await topo.send(topo.subject_events, key, msg.value)
            actor = actor_key(verdict)
            if actor is not None:
                await topo.send(topo.actor_events, actor.encode(), msg.value)
