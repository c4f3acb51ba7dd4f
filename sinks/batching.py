"""Per topic-partition buffers of rows, flushed by size or age.

Each flushed :class:`Batch` covers one contiguous offset range of one partition, which names
its insert: the deduplication token ``topic/partition/first-last``. Re-sending the same batch
(after an outage, or a lost acknowledgement) is therefore dropped by ClickHouse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Batch:
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    rows: list[Sequence[Any]] = field(default_factory=list)
    started: float = 0.0

    @property
    def token(self) -> str:
        return f"{self.topic}/{self.partition}/{self.first_offset}-{self.last_offset}"


class Batcher:
    """Collects rows per (topic, partition) until ``max_rows`` in total or ``max_seconds``."""

    def __init__(
        self,
        max_rows: int,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self._clock = clock
        self._open: dict[tuple[str, int], Batch] = {}
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, topic: str, partition: int, offset: int, row: Sequence[Any]) -> None:
        batch = self._open.get((topic, partition))
        if batch is None:
            batch = Batch(topic, partition, offset, offset, started=self._clock())
            self._open[(topic, partition)] = batch
        elif offset <= batch.last_offset:
            raise ValueError(
                f"{topic}[{partition}]: offset {offset} after {batch.last_offset}; "
                "offsets must increase within a batch"
            )
        batch.rows.append(row)
        batch.last_offset = offset
        self._rows += 1

    def due(self) -> bool:
        """True when the buffered rows should be flushed now."""
        if self._rows >= self.max_rows:
            return True
        if not self._open:
            return False
        oldest = min(b.started for b in self._open.values())
        return self._clock() - oldest >= self.max_seconds

    def drain(self) -> list[Batch]:
        """Take every open batch (the caller inserts them, then commits their offsets)."""
        batches = list(self._open.values())
        self._open.clear()
        self._rows = 0
        return batches

    def drop(self, topic: str, partition: int) -> None:
        """Forget a partition's rows (its partition was revoked; the new owner re-reads them)."""
        batch = self._open.pop((topic, partition), None)
        if batch is not None:
            self._rows -= len(batch.rows)
