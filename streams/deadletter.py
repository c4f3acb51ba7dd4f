"""The dead-letter topic: records that cannot be processed, unchanged, with the reason.

The convention of Kafka Connect's DLQ: the value is the original bytes and the key the
original key, so the record can be inspected or replayed byte for byte; the reason and
where the record came from travel in headers (docs/streams.md lists them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


async def dead_letter(topo: Topology, msg: Any, rejection: Rejection) -> None:
    """Send the record ``msg`` unchanged to the DLQ, the reason and source in headers."""
    log.log(
        logging.ERROR if rejection.kind == "internal" else logging.WARNING,
        "to DLQ: %s[%d]@%d %s: %s",
        msg.topic,
        msg.partition,
        msg.offset,
        rejection.kind,
        rejection.reason,
    )
    await topo.send(
        topo.dlq,
        msg.key,
        msg.value or b"",
        headers=dlq_headers(rejection, msg.topic, msg.partition, msg.offset, msg.timestamp),
    )


async def judge_or_dead_letter(
    topo: Topology, msg: Any, stage: str, judge: Awaitable[None]
) -> None:
    """Await ``judge`` (a valid event's judging); if it raises, the event goes to the DLQ
    with the kind ``internal`` and the error, and the stream goes on.

    A bug in a rule must neither stop enforcement for everyone (a crash loop on the same
    record) nor lose the event silently (Faust would log, ack and commit past it): the
    DLQ keeps it, with the reason, for a replay once the bug is fixed. The valid topic
    has it already, so the history is complete either way. A refused send is not this:
    the delivery guard is stopping the worker, so that error goes on up.
    """
    try:
        await judge
    except Exception as exc:
        if topo.delivery.failure is not None:
            raise
        log.exception("%s raised on %s[%d]@%d", stage, msg.topic, msg.partition, msg.offset)
        reason = f"{stage}: {type(exc).__name__}: {exc}"
        await dead_letter(topo, msg, Rejection("internal", reason))
