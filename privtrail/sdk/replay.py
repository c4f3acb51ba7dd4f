"""Spool replay: read the spool front to back, send, delete segments once acknowledged.

Used by :class:`~privtrail.sdk.delivery.Delivery`'s sender thread only (no locking here).
Progress is tracked per *generation*: when a replayed record fails, the replayer waits for
the attempt's other sends to settle, then starts again from the oldest segment left, so
every record of a segment is acknowledged in one generation before the segment is deleted.
Records acknowledged in an abandoned generation are sent again: at least once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.producer import BrokerState
from privtrail.sdk.spool import MAGIC, Spool

_BATCH = 1_000  # records read from the spool per step
_RETRY_AFTER = 1.0  # seconds between a failed generation and the next


class Step(Enum):
    SENT = "sent"  # handed records to the producer
    WAIT = "wait"  # window full, waiting for a retry, or a send was refused
    END = "end"  # nothing left to read: the caller may switch back to direct sending


@dataclass(slots=True)
class _Progress:
    generation: int = 0
    seq: int | None = None
    offset: int = len(MAGIC)
    outstanding: dict[int, int] = field(default_factory=dict)  # segment -> unacked sends
    fully_read: set[int] = field(default_factory=set)
    failed: bool = False
    retry_at: float = 0.0

    def total_outstanding(self) -> int:
        return sum(self.outstanding.values())


class Replayer:
    """Replays one :class:`Spool` through ``send`` (which returns a future, or None)."""

    def __init__(
        self,
        *,
        spool: Spool,
        metrics: SdkMetrics,
        broker: BrokerState,
        send: Callable[[bytes | None, bytes], Any],
        window: int,
    ) -> None:
        self._spool = spool
        self._metrics = metrics
        self._broker = broker
        self._send = send
        self._window = window
        self._progress = _Progress()
        self._inflight: deque[tuple[Any, int, int]] = deque()  # (future, generation, seq)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def settled(self) -> bool:
        """True when this generation has nothing outstanding and nothing failed."""
        p = self._progress
        return not p.failed and not p.total_outstanding()

    def settle(self) -> bool:
        """Account for finished sends, oldest first; True when any finished."""
        inflight = self._inflight
        p = self._progress
        ok = failed = 0
        while inflight and inflight[0][0].is_done:
            future, generation, seq = inflight.popleft()
            succeeded = future.succeeded()
            if succeeded:
                ok += 1
            else:
                failed += 1
                self._broker.lost(f"replay failed: {type(future.exception).__name__}")
            if generation != p.generation:
                continue  # an abandoned attempt: these records are sent again anyway
            p.outstanding[seq] -= 1
            if not succeeded:
                p.failed = True
            self._maybe_delete(seq)
        if ok:
            self._broker.acked()
            self._metrics.replayed.inc(ok)
        if failed:
            self._metrics.failed.inc(failed)
        return bool(ok or failed)

    def _maybe_delete(self, seq: int) -> None:
        p = self._progress
        if p.failed or p.outstanding.get(seq, 0) or seq not in p.fully_read:
            return
        self._spool.delete(seq)
        p.outstanding.pop(seq, None)
        p.fully_read.discard(seq)
        self._metrics.spool_bytes.set(self._spool.size_bytes)

    def step(self) -> Step:
        """Send the next records within the window (one probe while the broker is lost)."""
        p = self._progress
        if p.failed:
            if p.total_outstanding():
                return Step.WAIT
            # start over from the oldest segment left
            self._progress = _Progress(
                generation=p.generation + 1, retry_at=time.monotonic() + _RETRY_AFTER
            )
            return Step.WAIT
        if time.monotonic() < p.retry_at:
            return Step.WAIT
        budget = (self._window if self._broker.up else 1) - p.total_outstanding()
        if budget <= 0:
            return Step.WAIT
        segments = self._spool.segments()
        if p.seq is None or p.seq not in segments:
            p.seq = next((s for s in segments if s not in p.fully_read), None)
            p.offset = len(MAGIC)
            if p.seq is None:
                return Step.END
        records = self._spool.read(p.seq, p.offset, min(budget, _BATCH))
        if not records:
            later = [s for s in segments if s > p.seq]
            if later and self._spool.is_sealed(p.seq):
                p.fully_read.add(p.seq)
                self._maybe_delete(p.seq)
                p.seq, p.offset = later[0], len(MAGIC)
                return Step.SENT
            return Step.END
        for rec in records:
            if not self._inflight:
                self._broker.sending(0)
            future = self._send(rec.key, rec.value)
            if future is None:
                p.failed = True
                return Step.WAIT
            self._inflight.append((future, p.generation, rec.segment))
            p.outstanding[rec.segment] = p.outstanding.get(rec.segment, 0) + 1
            p.offset = rec.end
        return Step.SENT

    def at_writer_end(self) -> bool:
        """True when every committed record was read (call with appends blocked)."""
        segments = self._spool.segments()
        if not segments:
            return True
        p = self._progress
        return p.seq == segments[-1] and p.offset >= self._spool.committed(p.seq)

    def finish(self) -> None:
        """Everything read and acknowledged: empty the spool, start a new generation."""
        self._spool.seal()
        for seq in self._spool.segments():
            self._spool.delete(seq)
        self._progress = _Progress(generation=self._progress.generation + 1)
        self._metrics.spool_bytes.set(self._spool.size_bytes)
