"""The worker's fast paths give what Faust's slow ones give.

The consumer's in-place first step, the raw table access, the raw schema and the cached
ledger encoding replace Faust machinery for speed; each must be indistinguishable.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP, Message
from fixtures.bytesteps import on_event
from mode import Service

from privtrail.engine import SubjectState
from privtrail.policy import default_policy
from privtrail.streams.consumer import FastDrainConsumer, FastWaitFirst
from privtrail.streams.enforce import SubjectStep
from privtrail.streams.ledger import RECENT, Ledger
from privtrail.streams.schema import RawSchema
from privtrail.streams.tables import RawTable

pytestmark = pytest.mark.unit


class Waiter(FastWaitFirst, Service):
    """A bare mode Service with the fast ``wait_first``, as the consumer has it."""


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- wait_first: the drain loop's hand-over ------------------------------------------------
def test_a_hand_over_that_does_not_wait_runs_in_place() -> None:
    async def main() -> None:
        waiter = Waiter()
        flow = asyncio.Event()
        other = flow.wait()
        before = len(asyncio.all_tasks())

        async def hand_over() -> str:
            assert len(asyncio.all_tasks()) == before  # no task was made for it
            return "delivered"

        coro = hand_over()
        result = await waiter.wait_first(coro, other)
        assert result.done == [coro] and result.results == ["delivered"]
        assert not result.stopped
        assert other.cr_frame is None  # closed, never run: no "never awaited" warning

    run(main())


def test_a_hand_over_that_waits_goes_faust_s_way_and_completes() -> None:
    async def main() -> None:
        waiter = Waiter()
        space = asyncio.get_running_loop().create_future()
        steps: list[Any] = []

        async def hand_over() -> str:
            await asyncio.sleep(0)  # a bare yield
            steps.append(await space)  # a future, answered later
            await asyncio.sleep(0)
            return "delivered"

        asyncio.get_running_loop().call_later(0.01, space.set_result, "room")
        result = await waiter.wait_first(hand_over(), asyncio.Event().wait())
        assert result.results == ["delivered"] and steps == ["room"]

    run(main())


def test_a_waiting_hand_over_is_abandoned_when_the_flow_is_suspended() -> None:
    async def main() -> None:
        waiter = Waiter()
        suspended = asyncio.Event()
        cancelled: list[bool] = []

        async def hand_over() -> None:
            try:
                await asyncio.get_running_loop().create_future()  # a full buffer
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        asyncio.get_running_loop().call_later(0.01, suspended.set)
        result = await waiter.wait_first(hand_over(), suspended.wait())
        assert len(result.done) == 1 and result.results == [True]
        await asyncio.sleep(0)
        assert cancelled == [True]

    run(main())


@pytest.mark.parametrize("waits_first", [False, True])
def test_a_failing_hand_over_raises_as_before(waits_first: bool) -> None:
    async def main() -> None:
        waiter = Waiter()

        async def hand_over() -> None:
            if waits_first:
                await asyncio.sleep(0.001)
            raise ValueError("decoder bug")

        other = asyncio.Event().wait()
        with pytest.raises(ValueError, match="decoder bug"):
            await waiter.wait_first(hand_over(), other)
        if not waits_first:
            assert other.cr_frame is None

    run(main())


def test_a_stopped_service_reports_stopped_as_faust_does() -> None:
    async def main() -> None:
        waiter = Waiter()
        waiter._stopped.set()

        async def hand_over() -> int:
            return 1

        result = await waiter.wait_first(hand_over(), asyncio.Event().wait())
        assert result.stopped and result.done == []

    run(main())


def test_no_record_is_handed_over_while_the_offsets_are_sought_back(tmp_path: Path) -> None:
    """The end of a rebalance: the stream partitions are resumed while the flow is on
    (table recovery turned it on), then sought back to their committed offsets. A batch
    fetched meanwhile must not reach the streams: Faust clears their buffers right after
    the seek and, the read offsets being set back, counts the records it handed over as a
    gap, that is as processed. The in-place hand-over delivers such a batch at once, and
    the worker taking over partitions in tests/integration/test_scaling.py lost them."""
    from privtrail.streams.app import build_app
    from privtrail.streams.settings import WorkerSettings

    async def main() -> None:
        topo = build_app(WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="w1"))
        consumer = topo.app.consumer
        assert isinstance(consumer, FastDrainConsumer)
        tp = TP("events", 0)
        batch = [
            ConsumerRecord("events", 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])
            for offset in range(10, 20)
        ]
        fetched, sought = asyncio.Event(), asyncio.Event()
        handed: list[int] = []
        flow_at_seek: list[bool] = []

        async def getmany(active_partitions: Any, timeout: float) -> Any:
            if batch:  # the fetch under way when the seek begins, once
                await fetched.wait()
                records = {tp: list(batch)}
                batch.clear()
                return records
            await asyncio.sleep(timeout)
            return {}

        async def seek_to_committed() -> dict[TP, int]:
            flow_at_seek.append(consumer.flow_active)
            await sought.wait()
            return {tp: 10}

        async def hand_over(message: Any) -> None:
            handed.append(message.offset)

        consumer._getmany = getmany
        consumer.seek_to_committed = seek_to_committed
        consumer.highwater = lambda tp: 20
        consumer.callback = hand_over
        consumer._active_partitions = {tp}
        consumer.resume_flow()  # as table recovery left it

        drain = asyncio.ensure_future(consumer._drain_messages(Service()))
        await asyncio.sleep(0.01)  # the drain loop is fetching
        seek = asyncio.ensure_future(consumer.perform_seek())
        await asyncio.sleep(0.01)  # the seek is under way
        fetched.set()
        await asyncio.sleep(0.05)
        assert handed == []  # not one record while the offsets move
        assert flow_at_seek and not any(flow_at_seek)

        sought.set()
        await seek
        assert consumer._read_offset[tp] == 10
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)

    run(main())


def test_the_worker_app_uses_the_fast_consumer(tmp_path: Path) -> None:
    from privtrail.streams.app import build_app
    from privtrail.streams.settings import WorkerSettings

    topo = build_app(WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="w1"))
    assert topo.app.transport.Consumer is FastDrainConsumer
    assert isinstance(topo.valid.schema, RawSchema)
    assert topo.subject_table.raw.table is topo.subjects
    assert topo.subjects.changelog_topic.get_topic_name() == "w1-subjects-changelog"


# -- RawSchema: the bytes Faust's raw codec would give -------------------------------------
@pytest.mark.parametrize("key,value", [(b"ps_a", b"\xc3\x01body"), (None, b"v"), (b"k", None)])
def test_raw_schema_gives_what_faust_s_raw_codec_gives(key: Any, value: Any) -> None:
    app = faust.App("schema-test", autodiscover=False)
    message = Message("t", 0, 7, 0.0, 0, [], key, value, None)
    faust_schema = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    raw = RawSchema()
    assert raw.loads_key(app, message) == faust_schema.loads_key(app, message)
    assert raw.loads_value(app, message) == faust_schema.loads_value(app, message)


# -- RawTable: the store's dict and the changelog record -----------------------------------
class _Store:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}


class _Table:
    def __init__(self) -> None:
        self.data = _Store()
        self.changelog_topic = "changelog"


def test_raw_table_sets_the_store_and_sends_the_changelog_record() -> None:
    sent: list[tuple[Any, ...]] = []

    async def send(topic: Any, key: bytes, value: bytes, *, partition: int) -> None:
        sent.append((topic, key, value, partition))

    table = RawTable(_Table(), send)
    assert table.get(b"ps_a") is None
    run(table.put(b"ps_a", b"{}", 3))
    assert table.get(b"ps_a") == b"{}"
    assert sent == [("changelog", b"ps_a", b"{}", 3)]


# -- Ledger.to_bytes: the cached entries give the same bytes --------------------------------
def _old_to_bytes(ledger: Ledger[Any]) -> bytes:
    body = {"state": ledger.state.to_dict(), "recent": list(ledger.recent.items())}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def test_ledger_bytes_are_those_of_the_plain_encoding(ev: Any) -> None:
    step = SubjectStep(default_policy())
    key = b"ps_fast"
    raw: bytes | None = None
    events = [ev.collect(0, subject="ps_fast")] + [
        ev.use(1, subject="ps_fast", purpose="service_improvement" if n % 3 else "user_management")
        for n in range(RECENT + 10)
    ]
    alerts = 0
    for event in events:
        result = on_event(step, key, raw, event)
        raw = result.value
        alerts += len(result.alerts)
        assert raw == _old_to_bytes(step.cache.get(key, raw))
    assert alerts, "some events raise alerts, so entries carry alert JSON"
    assert raw is not None
    back = Ledger.from_bytes(raw, SubjectState.from_dict)
    assert back.to_bytes() == raw
    assert len(back.recent) == RECENT


def test_ledger_entry_cache_follows_eviction_and_rewrites(ev: Any) -> None:
    step = SubjectStep(default_policy())
    on_event(step, b"ps_y", None, ev.collect(0, subject="ps_y"))
    alert = on_event(step, b"ps_y", None, ev.use(1, subject="ps_y", purpose="marketing")).alerts
    assert alert
    ledger = Ledger(SubjectState(subject_id="ps_x"))
    for n in range(RECENT + 3):
        ledger.remember(f"op-{n}", [])
        assert ledger.to_bytes() == _old_to_bytes(ledger)
    ledger.remember("op-5", alert)  # an id already remembered, now with an alert
    assert ledger.to_bytes() == _old_to_bytes(ledger)


# -- LowWaterQueue: once full, full until drained to half ----------------------------------
def _queue(maxsize: int) -> Any:
    from mode.utils.queues import FlowControlEvent

    from privtrail.streams.queues import LowWaterQueue

    flow = FlowControlEvent()
    flow.resume()  # it starts suspended, as Faust's does until partitions are assigned
    return LowWaterQueue(maxsize=maxsize, flow_control=flow, clear_on_resume=False)


def test_low_water_queue_stays_full_until_half_drained_and_keeps_order() -> None:
    async def main() -> None:
        q = _queue(4)
        for n in range(4):
            assert not q.full()
            q.put_nowait(n)
        assert q.full()
        assert q.get_nowait() == 0
        assert q.full() and q.qsize() == 3  # refilling: not yet down to half
        with pytest.raises(asyncio.QueueFull):
            q.put_nowait(4)
        assert q.get_nowait() == 1
        assert not q.full() and q.qsize() == 2
        q.put_nowait(4)
        q.put_nowait(5)
        assert [q.get_nowait() for _ in range(4)] == [2, 3, 4, 5]

    run(main())


def test_low_water_queue_wakes_a_waiting_put_at_half() -> None:
    async def main() -> None:
        q = _queue(4)
        for n in range(4):
            await q.put(n)
        waiting = asyncio.ensure_future(q.put(4))
        await asyncio.sleep(0)
        assert not waiting.done()
        assert await q.get() == 0
        await asyncio.sleep(0)
        assert not waiting.done(), "one free slot is not enough"
        assert await q.get() == 1
        await asyncio.sleep(0)
        assert waiting.done() and q.qsize() == 3
        assert [q.get_nowait() for _ in range(3)] == [2, 3, 4]

    run(main())


def test_low_water_queue_forgets_being_full_when_cleared() -> None:
    async def main() -> None:
        q = _queue(2)
        q.put_nowait(1)
        q.put_nowait(2)
        assert q.full()
        q.clear()
        assert not q.full() and q.qsize() == 0
        q.put_nowait(3)
        assert q.get_nowait() == 3

    run(main())


def test_unbounded_low_water_queue_is_never_full() -> None:
    async def main() -> None:
        q = _queue(0)
        for n in range(10_000):
            q.put_nowait(n)
        assert not q.full()

    run(main())


def test_the_worker_app_buffers_streams_in_low_water_queues(tmp_path: Path) -> None:
    from privtrail.streams.app import build_app
    from privtrail.streams.queues import LowWaterQueue
    from privtrail.streams.settings import WorkerSettings

    topo = build_app(WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="w2"))

    async def main() -> None:
        assert isinstance(topo.valid.clone(is_iterator=True).queue, LowWaterQueue)

    run(main())


@pytest.mark.parametrize("wait,expected_ms", [(None, 100), (0.25, 250), (2.0, 2000)])
def test_the_worker_consumer_waits_for_fetches_as_configured(
    tmp_path: Path, wait: float | None, expected_ms: int
) -> None:
    # Faust hard-codes fetch_max_wait_ms=1500, which stalled a backlogged worker
    # (privtrail.streams.consumer, "The fetch wait"); the worker's setting replaces it.
    from privtrail.streams.app import build_app
    from privtrail.streams.consumer import ShortPollThread
    from privtrail.streams.settings import WorkerSettings

    settings = WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="w3")
    if wait is not None:
        settings = settings.with_overrides(fetch_max_wait=wait)
    topo = build_app(settings)

    async def create() -> Any:
        thread = topo.app.consumer._thread
        assert isinstance(thread, ShortPollThread)
        created = thread._create_worker_consumer(topo.app.transport)
        await created.stop()  # never started: nothing to close but the client object
        return created

    created = run(create())
    assert created._fetch_max_wait_ms == expected_ms
    assert created._group_id == "w3"  # the rest is Faust's own configuration
