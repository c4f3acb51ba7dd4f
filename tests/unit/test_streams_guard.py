"""The delivery guard: a send the broker did not acknowledge stops every offset commit.

What the broker does is tested on the real one (tests/integration/
test_streams_delivery.py); here the pieces: the guard itself, aiokafka's flush order it
relies on, the sends of ``Topology``, the consumer's commit gate and Faust's sensor hook.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import MessageAccumulator
from aiokafka.structs import TopicPartition
from faust.transport.consumer import ThreadDelegateConsumer
from fixtures.faketable import FakeTable

from privtrail.streams.delivery import (
    DeliveryGuard,
    GuardedSensorDelegate,
    UndeliveredOutput,
)
from privtrail.streams.tables import RawTable

pytestmark = pytest.mark.unit


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _topo(tmp_path: Path, app_id: str) -> Any:
    from privtrail.streams.app import build_app
    from privtrail.streams.settings import WorkerSettings

    return build_app(WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id=app_id))


# -- DeliveryGuard ------------------------------------------------------------------------
def test_a_failed_send_is_recorded_once_with_its_topic() -> None:
    async def main() -> None:
        crashes: list[UndeliveredOutput] = []
        guard = DeliveryGuard(on_failure=crashes.append)
        loop = asyncio.get_running_loop()
        ok, bad, worse = loop.create_future(), loop.create_future(), loop.create_future()
        guard.watch(ok, "privacy.events.valid")
        guard.watch(bad, "privacy.alerts")
        guard.watch(worse, "privacy.events.dlq")
        ok.set_result("metadata")
        await asyncio.sleep(0)
        assert guard.failure is None and await guard.may_commit()
        bad.set_exception(MessageSizeTooLargeError())
        worse.set_exception(KafkaTimeoutError())
        await asyncio.sleep(0)
        assert guard.failure is not None and guard.failure.topic == "privacy.alerts"
        assert isinstance(guard.failure.error, MessageSizeTooLargeError)
        assert len(crashes) == 1, "the first failure stops the worker; later ones only log"
        message = str(crashes[0])
        assert "'privacy.alerts'" in message and "MessageSizeTooLargeError" in message
        assert not await guard.may_commit()
        assert not await guard.may_commit(), "and stays closed"

    run(main())


def test_a_cancelled_send_counts_as_not_acknowledged() -> None:
    async def main() -> None:
        guard = DeliveryGuard()
        future = asyncio.get_running_loop().create_future()
        guard.watch(future, "w-subjects-changelog")
        future.cancel()
        assert not await guard.may_commit()
        assert guard.failure is not None and guard.failure.topic == "w-subjects-changelog"

    run(main())


def test_may_commit_sees_a_failure_whose_callback_has_not_run_yet() -> None:
    async def main() -> None:
        guard = DeliveryGuard()
        future = asyncio.get_running_loop().create_future()
        guard.watch(future, "privacy.alerts")
        future.set_exception(MessageSizeTooLargeError())  # callback scheduled, not run
        assert guard.failure is None
        assert not await guard.may_commit()

    run(main())


def test_aiokafka_flush_returns_after_the_failed_records_callbacks_ran() -> None:
    """What the commit path relies on: Faust commits right after ``producer.flush()``;
    by then the guard has seen every failure of a batch that flush waited for."""

    async def main() -> None:
        guard = DeliveryGuard()
        accumulator = MessageAccumulator(None, 16_384, 0, 30)  # no cluster, no compression
        tp = TopicPartition("privacy.alerts", 0)
        future = await accumulator.add_message(tp, b"ps_a", b"alert", timeout=1)
        guard.watch(future, tp.topic)
        flushing = asyncio.ensure_future(accumulator.flush())
        await asyncio.sleep(0)
        assert not flushing.done()
        accumulator.fail_all(MessageSizeTooLargeError())  # what the sender does on refusal
        await flushing  # returns normally: aiokafka's flush does not raise
        assert guard.failure is not None, "seen before the flushing task resumed"

    run(main())


# -- Topology.send: every send of the agents goes through the guard ----------------------
class _Producer:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.futures: list[asyncio.Future[Any]] = []
        self.sent: list[tuple[Any, ...]] = []

    async def send(self, topic: str, key: Any, value: Any, partition: Any, *rest: Any) -> Any:
        if self.error is not None:
            raise self.error
        self.sent.append((topic, key, value, partition))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def test_topology_send_watches_each_record(tmp_path: Path) -> None:
    topo = _topo(tmp_path, "wd1")
    producer = _Producer()
    topo.app.producer = producer
    assert topo.delivery is topo.app.delivery

    async def main() -> None:
        await topo.send(topo.alerts, b"ps_a", b"alert")
        await topo.subject_table.raw.put(b"ps_a", b"{}", 2)
        producer.futures[0].set_result("ok")
        producer.futures[1].set_exception(MessageSizeTooLargeError())
        await asyncio.sleep(0)

    crashed: list[UndeliveredOutput] = []
    topo.app.delivery._on_failure = crashed.append  # not the app's crash, here
    run(main())
    assert [s[0] for s in producer.sent] == [topo.settings.topics.alerts, "wd1-subjects-changelog"]
    assert topo.delivery.failure is not None
    assert topo.delivery.failure.topic == "wd1-subjects-changelog"
    assert len(crashed) == 1


def test_a_send_refused_before_queueing_is_a_failure_too(tmp_path: Path) -> None:
    from faust.exceptions import ProducerSendError

    topo = _topo(tmp_path, "wd2")
    topo.app.producer = _Producer(ProducerSendError("Error while sending: KafkaTimeoutError()"))
    topo.app.delivery._on_failure = None

    with pytest.raises(ProducerSendError):
        run(topo.send(topo.valid, b"ps_a", b"event"))
    assert topo.delivery.failure is not None
    assert topo.delivery.failure.topic == topo.settings.topics.valid


def test_the_worker_app_crashes_on_an_unacknowledged_output(tmp_path: Path) -> None:
    topo = _topo(tmp_path, "wd3")

    async def main() -> None:
        topo.app.delivery.fail("privacy.alerts", MessageSizeTooLargeError())
        await asyncio.sleep(0.01)

    run(main())
    assert topo.app.crashed
    assert isinstance(topo.app.crash_reason, UndeliveredOutput)


# -- the consumer's commit gate ----------------------------------------------------------
def test_the_consumer_commits_only_while_every_output_was_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits: list[Any] = []

    async def commit(self: Any, offsets: Any) -> bool:
        commits.append(offsets)
        return True

    monkeypatch.setattr(ThreadDelegateConsumer, "_commit", commit)
    topo = _topo(tmp_path, "wd4")
    topo.app.delivery._on_failure = None
    consumer: Any = topo.app.consumer

    async def main() -> tuple[bool, bool]:
        before = await consumer._commit({"tp": 10})
        topo.app.delivery.fail("privacy.alerts", MessageSizeTooLargeError())
        after = await consumer._commit({"tp": 20})
        return before, after

    assert run(main()) == (True, False)
    assert commits == [{"tp": 10}], "nothing is committed after the failure"


# -- Faust's own sends report through the sensor delegate ---------------------------------
def test_faust_send_errors_reach_the_guard(tmp_path: Path) -> None:
    topo = _topo(tmp_path, "wd5")
    sensors = topo.app.sensors
    assert isinstance(sensors, GuardedSensorDelegate) and sensors.guard is topo.app.delivery
    topo.app.delivery._on_failure = None
    monitor = topo.app.monitor
    sensors.add(monitor)  # as the app does at start
    topic = "wd5-deadline-index-changelog"
    state = sensors.on_send_initiated(None, topic, None, 4, 0)
    sensors.on_send_completed(None, state, None)  # the Monitor ignores the extra key
    assert topo.app.delivery.failure is None
    state = sensors.on_send_initiated(None, topic, None, 4, 0)
    sensors.on_send_error(None, MessageSizeTooLargeError(), state)
    assert topo.app.delivery.failure is not None
    assert topo.app.delivery.failure.topic == topic
    assert monitor.messages_sent == 2 and monitor.send_errors == 1


# -- the deadline index goes through RawTable (watched, no Faust buffer) -------------------
def test_raw_table_delete_removes_and_sends_a_tombstone() -> None:
    sent: list[tuple[Any, ...]] = []

    async def send(topic: Any, key: bytes, value: bytes | None, *, partition: int) -> None:
        sent.append((topic, key, value, partition))

    table = RawTable(FakeTable("index-changelog"), send)
    run(table.put(b"ps_a", b"[1.0, 3]", 3))
    run(table.delete(b"ps_a", 3))
    assert table.get(b"ps_a") is None
    assert sent[-1] == ("index-changelog", b"ps_a", None, 3)


def test_index_deadline_writes_only_changes(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from privtrail.streams.deadlines import index_value

    topo = _topo(tmp_path, "wd6")
    sent: list[tuple[Any, ...]] = []

    async def send(topic: Any, key: bytes, value: bytes | None, *, partition: int) -> None:
        sent.append((key, value, partition))

    topo.index_table = RawTable(FakeTable("index-changelog"), send)
    due = datetime(2026, 1, 2, tzinfo=UTC)

    async def main() -> None:
        await topo.index_deadline(b"ps_a", None, 1)  # nothing to delete
        await topo.index_deadline(b"ps_a", due, 1)
        await topo.index_deadline(b"ps_a", due, 1)  # unchanged
        await topo.index_deadline(b"ps_a", None, 1)

    run(main())
    assert sent == [(b"ps_a", index_value(due, 1), 1), (b"ps_a", None, 1)]
