"""Delivery: queue, broker loss, spool replay, ordering and bounds, with a scripted broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from test_sdk_fakes import FakeBroker

from privtrail.sdk.delivery import Delivery
from privtrail.sdk.errors import ClientClosedError, SpoolFullError, SpoolLockedError
from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.spool import Spool

pytestmark = pytest.mark.unit

BROKER_TIMEOUT = 0.2


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


class Harness:
    def __init__(self, spool_dir: Path, broker: FakeBroker, **kw: int) -> None:
        self.registry = CollectorRegistry()
        self.metrics = SdkMetrics("unit", self.registry)
        self.spool = Spool(
            spool_dir,
            max_bytes=kw.pop("max_bytes", 1 << 20),
            segment_bytes=kw.pop("segment_bytes", 4096),
            fsync="never",
        )
        self.delivery = Delivery(
            producer_factory=broker.producer,
            topic="t",
            spool=self.spool,
            metrics=self.metrics,
            queue_size=kw.pop("queue_size", 1000),
            broker_timeout=BROKER_TIMEOUT,
            replay_window=kw.pop("replay_window", 50),
        )
        self.delivery.start()

    def metric(self, name: str) -> float:
        value = self.registry.get_sample_value(name, {"service": "unit"})
        return value or 0.0

    def submit_range(self, start: int, stop: int) -> None:
        for i in range(start, stop):
            self.delivery.submit(b"k%d" % (i % 7), b"v%06d" % i)


def expected(start: int, stop: int) -> list[bytes]:
    return [b"v%06d" % i for i in range(start, stop)]


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def harness(tmp_path: Path, broker: FakeBroker) -> Iterator[Harness]:
    h = Harness(tmp_path / "spool", broker)
    yield h
    h.delivery.close(timeout=1)


def test_direct_path_delivers_in_order_and_counts(harness: Harness, broker: FakeBroker) -> None:
    harness.submit_range(0, 500)
    assert harness.delivery.flush(5)
    assert broker.values() == expected(0, 500)
    assert harness.metric("privtrail_sdk_events_sent_total") == 500
    assert harness.metric("privtrail_sdk_events_spooled_total") == 0


def test_broker_loss_spools_then_replays_everything_in_order(
    harness: Harness, broker: FakeBroker
) -> None:
    broker.down()
    harness.submit_range(0, 20)  # handed to the producer; pending like kafka-python retries
    wait_for(lambda: not harness.delivery.broker.up)
    assert harness.metric("privtrail_sdk_broker_up") == 0
    harness.submit_range(20, 300)  # broker lost: these go to the spool
    assert harness.delivery.spooling
    assert harness.metric("privtrail_sdk_events_spooled_total") >= 280
    assert any(harness.spool.directory.glob("*.spool"))
    broker.up()
    assert harness.delivery.flush(5)
    assert broker.values() == expected(0, 300)
    assert not harness.delivery.spooling
    assert harness.spool.is_empty()
    assert not list(harness.spool.directory.glob("*.spool"))  # segments deleted after ack
    assert harness.metric("privtrail_sdk_events_replayed_total") >= 280


def test_failed_in_flight_events_are_spooled_not_lost(harness: Harness, broker: FakeBroker) -> None:
    broker.down()
    harness.submit_range(0, 30)
    wait_for(lambda: len(broker.pending) >= 1)
    broker.fail_pending()  # delivery timeout in the producer: errbacks fire
    wait_for(lambda: harness.metric("privtrail_sdk_events_failed_total") >= 1)
    harness.submit_range(30, 40)
    # the replay probe may itself be pending now; failing it must not lose it either
    broker.fail_pending()
    broker.up()
    assert harness.delivery.flush(10)
    got = broker.values()
    assert set(got) == set(expected(0, 40))  # at least once; duplicates allowed
    assert harness.spool.is_empty()


def test_queue_full_overflows_to_spool_in_order(tmp_path: Path, broker: FakeBroker) -> None:
    gate = threading.Event()
    broker.gate = gate  # the producer blocks: the sender thread stalls, the queue fills
    h = Harness(tmp_path / "spool", broker, queue_size=10)
    try:
        h.submit_range(0, 100)
        assert h.delivery.spooling
        assert h.metric("privtrail_sdk_events_spooled_total") >= 80
        gate.set()
        broker.gate = None
        assert h.delivery.flush(5)
        assert broker.values() == expected(0, 100)
    finally:
        gate.set()
        h.delivery.close(1)


def test_spool_full_raises_to_caller_and_counts(tmp_path: Path, broker: FakeBroker) -> None:
    broker.refuse_producers = True  # broker unreachable from the start
    h = Harness(tmp_path / "spool", broker, max_bytes=4096)
    try:
        wait_for(lambda: h.delivery.spooling)
        with pytest.raises(SpoolFullError) as info:
            for i in range(1000):
                h.delivery.submit(b"k", b"x" * 100 + b"%d" % i)
        assert info.value.max_bytes == 4096
        assert h.metric("privtrail_sdk_spool_full_total") == 1
        accepted = h.metric("privtrail_sdk_events_spooled_total")
        assert 0 < accepted < 1000
    finally:
        h.delivery.close(0.2)
    # what was accepted before the limit is still there for the next run
    broker.refuse_producers = False
    h2 = Harness(tmp_path / "spool", broker)
    try:
        assert h2.delivery.flush(5)
        assert len(broker.values()) == accepted
    finally:
        h2.delivery.close(1)


def test_producer_unavailable_at_start_spools_then_delivers(
    tmp_path: Path, broker: FakeBroker
) -> None:
    broker.refuse_producers = True
    h = Harness(tmp_path / "spool", broker)
    try:
        h.submit_range(0, 50)
        wait_for(lambda: h.delivery.spooling)
        h.submit_range(50, 60)
        broker.refuse_producers = False
        assert h.delivery.flush(5)
        assert broker.values() == expected(0, 60)
    finally:
        h.delivery.close(1)


def test_send_raising_diverts_to_spool(tmp_path: Path, broker: FakeBroker) -> None:
    broker.raise_on_send = True  # kafka-python: metadata unavailable within max_block_ms
    h = Harness(tmp_path / "spool", broker)
    try:
        h.submit_range(0, 20)
        wait_for(lambda: h.delivery.spooling and not h.delivery.broker.up)
        broker.raise_on_send = False
        assert h.delivery.flush(5)
        assert broker.values() == expected(0, 20)
    finally:
        h.delivery.close(1)


def test_close_while_lost_keeps_events_for_next_run(tmp_path: Path, broker: FakeBroker) -> None:
    broker.down()
    h = Harness(tmp_path / "spool", broker)
    h.submit_range(0, 10)
    wait_for(lambda: not h.delivery.broker.up)
    h.submit_range(10, 50)
    assert h.delivery.close(timeout=0.5) is False  # not acknowledged, but kept
    with pytest.raises(ClientClosedError):
        h.delivery.submit(b"k", b"late")
    broker.pending.clear()  # that process is gone: its in-flight sends died with it
    fresh = FakeBroker()
    h2 = Harness(tmp_path / "spool", fresh)
    try:
        assert h2.delivery.spooling  # a previous run's spool goes first
        h2.submit_range(50, 60)
        assert h2.delivery.flush(5)
        assert fresh.values()[-10:] == expected(50, 60)
        assert set(fresh.values()) == set(expected(0, 60))
    finally:
        h2.delivery.close(1)


def test_two_live_clients_cannot_share_a_spool(harness: Harness, broker: FakeBroker) -> None:
    with pytest.raises(SpoolLockedError, match="locked by another process"):
        Harness(harness.spool.directory, broker)


def test_a_crashed_sender_sends_events_to_the_spool_not_to_nowhere(
    tmp_path: Path, broker: FakeBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: Delivery) -> bool:
        raise RuntimeError("bug in the sender")

    monkeypatch.setattr(Delivery, "_send_direct", boom)
    h = Harness(tmp_path / "spool", broker)
    h.submit_range(0, 5)
    wait_for(lambda: h.delivery.dead)
    h.submit_range(5, 10)
    assert not h.delivery.flush(0.5)
    h.delivery.close(0.5)
    monkeypatch.undo()
    h2 = Harness(tmp_path / "spool", broker)
    try:
        assert h2.delivery.flush(5)
        assert broker.values() == expected(0, 10)
    finally:
        h2.delivery.close(1)


def test_unreachable_broker_is_noticed_before_the_first_event(
    tmp_path: Path, broker: FakeBroker
) -> None:
    broker.down()  # the producer can be created, but metadata never comes
    h = Harness(tmp_path / "spool", broker)
    try:
        wait_for(lambda: h.delivery.spooling and not h.delivery.broker.up)
        h.submit_range(0, 5)  # straight to the spool: nothing waits in memory
        assert h.delivery.pending() == 0
        assert h.metric("privtrail_sdk_events_spooled_total") == 5
        broker.up()
        assert h.delivery.flush(5)
        assert broker.values() == expected(0, 5)
    finally:
        h.delivery.close(1)
