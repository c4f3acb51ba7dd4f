"""Deadlines fire on time: an index of subjects with pending deadlines and a timer.

The deadline index is a table ``subject -> [due epoch seconds, partition]``, written by
the agents whenever a subject's earliest deadline changes. Every ``deadline_interval``
seconds the timer reads the index (reading a table outside a stream is allowed, writing
is not) and, for each subject whose deadline has passed, sends a *tick* to the ticks
topic on that subject's partition. The tick agent then calls ``SubjectEngine.due`` inside
the stream, so the state change and the alerts are recorded like any event's.

The timer's clock is :class:`Clock`: the wall clock plus an offset (0 in production).
Tests move the offset to make days pass; rules still compare ``occurred_at`` instants.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from privtrail.events import format_timestamp
from privtrail.streams.enforce import send_alerts

if TYPE_CHECKING:
    from privtrail.streams.app import Topology

log = logging.getLogger(__name__)

RETICK_AFTER = 30.0
"""Seconds before the timer ticks again a subject whose deadline did not move (a lost tick)."""


@dataclass(frozen=True, slots=True)
class Clock:
    """``now()`` = wall clock + ``offset_seconds``; ``judge_time()`` = now - lateness.

    The timer judges at ``judge_time()``: a deadline counts as missed only once no event
    that occurred before it can still be in flight (``lateness_seconds``).
    """

    offset_seconds: float = 0.0
    lateness_seconds: float = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def judge_time(self) -> datetime:
        return self.now() - timedelta(seconds=self.lateness_seconds)


def index_value(due: datetime, partition: int) -> bytes:
    return json.dumps([due.timestamp(), partition]).encode()


def parse_index(value: bytes) -> tuple[float, int]:
    due, partition = json.loads(value)
    return float(due), int(partition)


def tick_value(now: datetime) -> bytes:
    stamp = format_timestamp(now)
    return json.dumps({"id": f"tick:{stamp}", "now": stamp}).encode()


def parse_tick(value: bytes) -> tuple[str, datetime]:
    data = json.loads(value)
    now = datetime.fromisoformat(str(data["now"]).replace("Z", "+00:00"))
    return str(data["id"]), now


class DueScanner:
    """Pick the subjects to tick from the index; remembers what it ticked recently."""

    def __init__(self) -> None:
        self._sent: dict[bytes, tuple[float, float]] = {}  # key -> (due, monotonic sent)

    def due(self, index: Any, now: datetime, active: set[int] | None) -> list[tuple[bytes, int]]:
        """(subject key, partition) of index entries due strictly before ``now``."""
        cutoff = now.timestamp()
        mono = time.monotonic()
        out: list[tuple[bytes, int]] = []
        for key, value in list(index.items()):
            due, partition = parse_index(value)
            if due >= cutoff or (active is not None and partition not in active):
                continue
            sent = self._sent.get(key)
            if sent is not None and sent[0] == due and mono - sent[1] < RETICK_AFTER:
                continue  # a tick for this very deadline is on its way
            self._sent[key] = (due, mono)
            out.append((key, partition))
        if len(self._sent) > 4 * max(len(out), 1024):
            self._sent = {k: v for k, v in self._sent.items() if k in index}
        return out


def register(topo: Topology) -> None:
    """Add the deadline timer and the tick agent."""
    settings = topo.settings
    scanner = DueScanner()
    step, subjects = topo.subject_step, topo.subject_table

    @topo.app.timer(settings.deadline_interval, name="privtrail.deadline_timer")  # type: ignore[untyped-decorator]
    async def deadline_timer() -> None:
        now = topo.clock.judge_time()
        active = topo.active_partitions(settings.ticks_topic)
        due = scanner.due(topo.deadline_index, now, active)
        if due:
            log.info("deadline timer: %d subject(s) due at %s", len(due), format_timestamp(now))
        value = tick_value(now)
        for key, partition in due:
            await topo.send(topo.ticks, key, value, partition=partition)

    @topo.app.agent(topo.ticks, name="privtrail.deadlines")
    async def deadline_agent(stream: Any) -> None:
        async for record in stream.events():
            key = record.key
            if not subjects.known(key):
                await topo.index_deadline(key, None, record.message.partition)
                continue
            tick_id, now = parse_tick(record.value)
            # written, with the deadline index, before the next commit
            alerts = subjects.update(key, record.message.partition, step.tick, tick_id, now)
            await send_alerts(topo, alerts)
