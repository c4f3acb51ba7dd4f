"""LedgerTable: ledgers changed in memory, one changelog record per key at each flush.

What must hold for the write-behind to keep the worker's guarantees:

- the bytes a flush writes are those the write-through path wrote after the same events;
- an agent always sees the newest ledger of a key (dirty, being flushed, or evicted
  from the decoded cache);
- a change made while a flush waits on the producer is not lost;
- a crash that loses everything not flushed, followed by a replay from any commit point
  at or before the last flush, ends in the same state and raises the same alerts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures.bytesteps import on_event
from fixtures.faketable import FakeTable
from hypothesis import given, settings
from hypothesis import strategies as st

from privtrail.engine import SubjectState
from privtrail.events import parse_event
from privtrail.policy import default_policy
from privtrail.scenario import colabox_scenario
from privtrail.streams.enforce import SubjectStep
from privtrail.streams.ledger import Ledger, LedgerCache
from privtrail.streams.tables import LedgerTable, RawTable

pytestmark = pytest.mark.unit

POLICY = default_policy()
START = datetime(2025, 3, 1, tzinfo=UTC)
EVENTS = [e for e in (parse_event(f) for f in colabox_scenario(START, prefix="t")) if e.subject_id]


class Changelog:
    """The changelog topic: every record sent, in order."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.records: list[tuple[bytes, bytes | None, int]] = []
        self.gate = gate  # when set, each send waits for it (a producer with a full buffer)
        self.fail: BaseException | None = None

    async def send(self, topic: Any, key: bytes, value: bytes | None, *, partition: int) -> None:
        if self.fail is not None:
            raise self.fail
        if self.gate is not None:
            await self.gate.wait()
        self.records.append((key, value, partition))

    def latest(self) -> dict[bytes, bytes]:
        """What recovery rebuilds: the last value per key."""
        out: dict[bytes, bytes] = {}
        for key, value, _ in self.records:
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out


def _table(
    step: SubjectStep, log: Changelog, store: dict[bytes, bytes] | None = None
) -> LedgerTable[SubjectState]:
    table = FakeTable()
    if store:
        table.data.data.update(store)
    return LedgerTable(RawTable(table, log.send), step.cache)


def _apply(step: SubjectStep, table: LedgerTable[SubjectState], event: Any) -> list[Any]:
    key = event.subject_id.encode()
    return table.update(key, len(key) % 4, step.apply, event)


def _write_through(events: list[Any]) -> dict[bytes, bytes]:
    step, values = SubjectStep(POLICY), {}
    for event in events:
        key = event.subject_id.encode()
        values[key] = on_event(step, key, values.get(key), event).value
    return values


def test_a_flush_writes_one_record_per_key_with_the_write_through_bytes() -> None:
    step, log = SubjectStep(POLICY), Changelog()
    table = _table(step, log)
    for event in EVENTS:
        _apply(step, table, event)
    keys = {e.subject_id.encode() for e in EVENTS}
    assert table.dirty == len(keys)
    assert asyncio.run(table.flush()) == len(keys)
    assert table.dirty == 0
    assert len(log.records) == len(keys), "one record per key, not one per event"
    assert log.latest() == _write_through(EVENTS)
    assert asyncio.run(table.flush()) == 0 and len(log.records) == len(keys)


def test_the_newest_ledger_is_found_even_when_the_cache_evicted_it() -> None:
    step = SubjectStep(POLICY)
    step.cache = LedgerCache(SubjectState.from_dict, lambda s: SubjectState(subject_id=s), limit=1)
    log = Changelog()
    table = _table(step, log)
    first = [e for e in EVENTS if e.subject_id == EVENTS[0].subject_id]
    others = [e for e in EVENTS if e.subject_id != EVENTS[0].subject_id]
    asyncio.run(_flush_after(step, table, first[:1]))  # flushed bytes in the store
    for event in first[1:] + others:  # the others push the first key out of the cache
        _apply(step, table, event)
    key = first[0].subject_id.encode()
    ledger = table.ledger(key)
    assert list(ledger.recent) == [e.event_id for e in first]
    asyncio.run(table.flush())
    assert log.latest() == _write_through(EVENTS)


async def _flush_after(
    step: SubjectStep, table: LedgerTable[SubjectState], events: list[Any]
) -> None:
    for event in events:
        _apply(step, table, event)
    await table.flush()


def test_a_change_during_a_flush_is_written_by_the_next_one() -> None:
    async def main() -> None:
        step, gate = SubjectStep(POLICY), asyncio.Event()
        log = Changelog(gate)
        table = _table(step, log)
        key = EVENTS[0].subject_id.encode()
        mine = [e for e in EVENTS if e.subject_id == EVENTS[0].subject_id]
        _apply(step, table, mine[0])
        flushing = asyncio.ensure_future(table.flush())
        await asyncio.sleep(0)  # the flush waits on the producer
        assert table.ledger(key) is step.cache.get(key, table.raw.get(key))
        _apply(step, table, mine[1])  # the agent goes on meanwhile
        assert table.dirty == 1
        gate.set()
        await flushing
        await table.flush()
        assert log.latest() == _write_through(mine[:2])

    asyncio.run(main())


def test_a_failed_flush_keeps_every_key_dirty() -> None:
    step, log = SubjectStep(POLICY), Changelog()
    table = _table(step, log)
    for event in EVENTS:
        _apply(step, table, event)
    dirty = table.dirty
    log.fail = RuntimeError("broker refused")
    with pytest.raises(RuntimeError):
        asyncio.run(table.flush())
    assert table.dirty == dirty
    log.fail = None
    asyncio.run(table.flush())
    assert log.latest() == _write_through(EVENTS)


def test_on_flush_sees_each_key_once_with_its_partition() -> None:
    seen: list[tuple[bytes, int]] = []

    async def index(key: bytes, ledger: Ledger[Any], partition: int) -> None:
        seen.append((key, partition))

    step, log = SubjectStep(POLICY), Changelog()
    table = _table(step, log)
    table._on_flush = index
    for event in EVENTS:
        _apply(step, table, event)
    asyncio.run(table.flush())
    keys = {e.subject_id.encode() for e in EVENTS}
    assert sorted(seen) == sorted((k, len(k) % 4) for k in keys)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_crash_and_replay_from_any_commit_point_changes_nothing(data: st.DataObject) -> None:
    """Flush at random points; crash (lose memory) at a random point; recover from the
    changelog and replay from a commit point at or before the last flush (Faust commits
    only offsets chosen before the flush ahead of it). Same state, same alerts."""
    n = len(EVENTS)
    flushes = sorted(set(data.draw(st.lists(st.integers(1, n), max_size=6))))
    crash = data.draw(st.integers(0, n))
    done = [f for f in flushes if f <= crash]
    commit = data.draw(st.integers(0, done[-1])) if done else 0

    async def main() -> tuple[dict[bytes, bytes], set[tuple[str, str]]]:
        step, log = SubjectStep(POLICY), Changelog()
        table = _table(step, log)
        alerts = set()
        for i, event in enumerate(EVENTS[:crash], 1):
            alerts |= {(a.rule, a.alert_id) for a in _apply(step, table, event)}
            if i in flushes:
                await table.flush()
        # crash: the dirty ledgers and the decoded cache are gone; recovery rebuilds the
        # store from the changelog and the worker replays from the committed offset
        step2 = SubjectStep(POLICY)
        table2 = _table(step2, log, log.latest())
        for event in EVENTS[commit:]:
            alerts |= {(a.rule, a.alert_id) for a in _apply(step2, table2, event)}
        await table2.flush()
        return log.latest(), alerts

    state, alerts = asyncio.run(main())
    assert state == _write_through(EVENTS)
    step, values = SubjectStep(POLICY), {}  # the subject side without a crash
    expected = set()
    for event in EVENTS:
        key = event.subject_id.encode()
        result = on_event(step, key, values.get(key), event)
        values[key] = result.value
        expected |= {(a.rule, a.alert_id) for a in result.alerts}
    assert alerts == expected
    assert expected, "the scenario raises subject-side alerts"


def test_the_worker_flushes_its_tables_before_a_commit(tmp_path: Any) -> None:
    from privtrail.streams.app import build_app
    from privtrail.streams.settings import WorkerSettings

    topo = build_app(WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="wt"))
    assert topo.app.before_commit_hooks == [topo.flush_tables]
    sent: list[tuple[str, bytes | None]] = []

    async def send(topic: Any, key: Any, value: Any, **kw: Any) -> None:
        sent.append((topic.get_topic_name(), key))

    topo.subject_table.raw._send = send
    topo.actor_table.raw._send = send
    topo.index_table._send = send
    event = next(e for e in EVENTS if e.type == "correction_requested")
    key = event.subject_id.encode()
    ledger = topo.subject_table.ledger(key)
    topo.subject_step.apply(ledger, event)
    topo.subject_table.changed(key, ledger, 1)
    asyncio.run(topo.app.before_commit())
    assert ("wt-subjects-changelog", key) in sent
    # a pending correction has a deadline: the index follows the flushed state
    assert ("wt-deadline-index-changelog", key) in sent
    assert topo.subject_table.dirty == 0


def test_a_tick_long_after_every_deadline_fires_once(ev: Any) -> None:
    step, log = SubjectStep(POLICY), Changelog()
    table = _table(step, log)
    for event in EVENTS:
        _apply(step, table, event)
    late = START + timedelta(days=400)
    fired: list[Any] = []
    for tick in ("tick:1", "tick:1", "tick:2"):
        for key in {e.subject_id.encode() for e in EVENTS}:
            ledger = table.ledger(key)
            alerts, replayed = step.tick(ledger, tick, late)
            if not replayed:
                table.changed(key, ledger, 0)
            if tick == "tick:1":
                fired.append(alerts)
    assert any(fired)
    half = len(fired) // 2
    assert fired[:half] == fired[half:], "the replayed tick re-sends the same alerts"


# -- in place or through the repartition topic --------------------------------------------
class _Consumer:
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def topic_partitions(self, topic: str) -> int | None:
        return self.counts.get(topic)


@pytest.mark.parametrize("n", [1, 3, 4, 12])
def test_in_place_is_where_the_repartition_hop_would_bring_the_key(tmp_path: Any, n: int) -> None:
    """The table partition of a subject must not depend on the path its events take:
    in place means the partition aiokafka's default partitioner (the repartition topic's
    producer) and kafka-python's (the SDK's) both give the key."""
    from aiokafka.partitioner import DefaultPartitioner

    from privtrail.streams.app import build_app
    from privtrail.streams.settings import WorkerSettings

    topo = build_app(
        WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="wp", partitions=n)
    )
    topo.app.consumer = _Consumer({"events": n, "wide": n + 1})
    keys = [e.subject_id.encode() for e in EVENTS] + [
        b"ps_" + bytes([65 + i]) * i for i in range(40)
    ]
    aiokafka_partition = DefaultPartitioner()
    for key in keys:
        want = aiokafka_partition(key, list(range(n)), list(range(n)))
        assert [p for p in range(n) if topo.in_place(key, "events", p)] == [want]
        # another layout than the tables' (or none known yet): always the repartition hop
        assert not any(topo.in_place(key, "wide", p) for p in range(n + 1))
        assert not any(topo.in_place(key, "unknown", p) for p in range(n))


@pytest.mark.parametrize("n", [1, 3, 4, 7, 24])
def test_the_worker_s_partitioner_is_aiokafka_s(tmp_path: Any, n: int) -> None:
    """The producer's partitioner with remembered hashes picks what aiokafka's default does
    (so repartitioned keys land where in_place expects them), including past its bound."""
    import os

    from aiokafka.partitioner import DefaultPartitioner

    from privtrail.sdk.partitioner import KeyHashes
    from privtrail.streams.app import build_app
    from privtrail.streams.partitioner import CachedPartitioner
    from privtrail.streams.settings import WorkerSettings

    cached, plain = CachedPartitioner(KeyHashes(max_keys=50)), DefaultPartitioner()
    keys = [os.urandom(i % 50 + 1) for i in range(200)] + [b"ps_" + b"x" * 43, b""]
    for parts in (list(range(n)), [p * 3 + 1 for p in range(n)]):
        for _ in range(2):  # the second round from the memory
            for key in keys:
                assert cached(key, parts, parts) == plain(key, parts, parts)
    assert cached(None, [0, 1, 2], [2]) == 2  # no key: a random available one
    topo = build_app(WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="wq"))
    assert isinstance(topo.app.conf.producer_partitioner, CachedPartitioner)
    assert topo.app.conf.producer_partitioner._hash is topo.app.key_hashes
