"""Batches per partition, flushed by size or age, named by their offset range."""

from __future__ import annotations

import pytest

from privtrail.sinks.batching import Batcher

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_size_bound() -> None:
    b = Batcher(max_rows=3, max_seconds=60, clock=Clock())
    b.add("t", 0, 10, ["a"])
    b.add("t", 1, 5, ["b"])
    assert not b.due()
    b.add("t", 0, 11, ["c"])
    assert b.due() and len(b) == 3


def test_time_bound() -> None:
    clock = Clock()
    b = Batcher(max_rows=1000, max_seconds=1.0, clock=clock)
    assert not b.due()
    b.add("t", 0, 1, ["a"])
    clock.now += 0.5
    assert not b.due()
    clock.now += 0.5
    assert b.due()


def test_drain_gives_one_batch_per_partition_with_a_token() -> None:
    b = Batcher(max_rows=100, max_seconds=1.0, clock=Clock())
    for off in (4, 5, 9):
        b.add("valid", 2, off, [off])
    b.add("alerts", 0, 0, ["x"])
    batches = {bt.token: bt for bt in b.drain()}
    assert set(batches) == {"valid/2/4-9", "alerts/0/0-0"}
    assert batches["valid/2/4-9"].rows == [[4], [5], [9]]
    assert len(b) == 0 and b.drain() == []


def test_offsets_must_increase() -> None:
    b = Batcher(max_rows=100, max_seconds=1.0)
    b.add("t", 0, 5, [])
    with pytest.raises(ValueError, match="offsets must increase"):
        b.add("t", 0, 5, [])


def test_drop_forgets_a_revoked_partition() -> None:
    b = Batcher(max_rows=100, max_seconds=1.0)
    b.add("t", 0, 1, [])
    b.add("t", 1, 1, [])
    b.drop("t", 0)
    b.drop("t", 7)  # unknown: no-op
    assert len(b) == 1 and [x.partition for x in b.drain()] == [1]


def test_max_rows_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Batcher(max_rows=0, max_seconds=1.0)
