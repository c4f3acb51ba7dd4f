"""The SDK against the real Apache Kafka broker of the local stack.

* 100,000 events from 4 threads arrive, each exactly once after dedup by event_id, and in
  order per subject;
* the broker is stopped in the middle of a run and started again: not one event is lost;
* a producer process is killed with SIGKILL while spooling; its restart delivers the spool.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from prometheus_client import CollectorRegistry

from privtrail.sdk import AuditClient, DeliveryOptions, staff
from privtrail.wire import decode_event

pytestmark = pytest.mark.integration

KEY = bytes(range(32))


def client(bootstrap: str, topic: str, spool: Path, **kw: Any) -> AuditClient:
    return AuditClient(
        bootstrap=bootstrap,
        service="it-sdk",
        topic=topic,
        spool_dir=spool,
        pseudonym_key=KEY,
        pseudonym_key_id="it",
        registry=CollectorRegistry(),
        **kw,
    )


def consume(bootstrap: str, topic: str, want: set[str], timeout: float = 120.0) -> list[Any]:
    """Every record of ``topic`` decoded, reading until all ``want`` ids were seen."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5_000,
        max_poll_records=5_000,
    )
    events: list[Any] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while not want <= seen and time.monotonic() < deadline:
            for message in consumer:
                event = decode_event(message.value)
                events.append(event)
                seen.add(event.event_id)
                if want <= seen:
                    break
    finally:
        consumer.close()
    return events


MODES = pytest.mark.parametrize("delivery", ["thread", "process"])


@MODES
def test_100k_events_from_4_threads_exactly_once_in_order_per_subject(
    kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path, delivery: str
) -> None:
    topic = kafka_topic_factory(partitions=4)
    per_thread, threads = 25_000, 4
    audit = client(
        kafka_bootstrap, topic, tmp_path / "spool", options=DeliveryOptions(delivery=delivery)
    )
    emitted: dict[int, list[str]] = {}

    def work(tid: int) -> None:
        ids = []
        for n in range(per_thread):
            ids.append(
                audit.used(
                    f"thread{tid}-subject{n % 500}",
                    items=["phone"],
                    purpose="user_management",
                    operation="view",
                    request_id=f"t{tid}n{n}",
                    actor=staff(f"agent-{tid}"),
                )
            )
        emitted[tid] = ids

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert audit.flush(120), "not every event was acknowledged"
    assert audit.close()
    want = {i for ids in emitted.values() for i in ids}
    assert len(want) == per_thread * threads

    events = consume(kafka_bootstrap, topic, want)
    assert {e.event_id for e in events} == want  # each one arrived (after dedup by event_id)
    # per subject, in emission order: the first copy of each event, in log order, has
    # strictly increasing sequence numbers (one subject is emitted by one thread)
    last: dict[str, int] = {}
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue  # a duplicate (at least once): harmless
        seen.add(event.event_id)
        n = int(event.request_id.split("n")[1])
        assert n > last.get(event.subject_id, -1), f"out of order for {event.subject_id}"
        last[event.subject_id] = n
    assert len(last) == threads * 500


@MODES
def test_broker_stopped_mid_run_loses_nothing(
    stack: Any, kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path, delivery: str
) -> None:
    topic = kafka_topic_factory(partitions=2)
    audit = client(
        kafka_bootstrap,
        topic,
        tmp_path / "spool",
        options=DeliveryOptions(broker_timeout=1.0, spool_fsync="interval", delivery=delivery),
    )
    ids: list[str] = []
    phases: dict[str, int] = {}
    stop = threading.Event()

    def emit_forever() -> None:
        n = 0
        while not stop.is_set():
            ids.append(audit.corrected(f"subject{n % 50}", request_id=f"r{n}"))
            n += 1
            if n % 50 == 0:
                time.sleep(0.01)

    worker = threading.Thread(target=emit_forever)
    worker.start()
    try:
        time.sleep(2)
        phases["before_stop"] = len(ids)
        stack.kafka.stop()
        deadline = time.monotonic() + 30
        while not audit.spooling and time.monotonic() < deadline:
            time.sleep(0.1)
        assert audit.spooling, "the client did not notice the broker was gone"
        time.sleep(2)
        phases["while_down"] = len(ids)
        stack.kafka.start()
        time.sleep(3)
    finally:
        stop.set()
        worker.join()
        if not stack.kafka.is_running():
            stack.kafka.start()
    assert phases["while_down"] > phases["before_stop"]  # events kept coming during the outage
    assert audit.flush(180), "spool not replayed after the broker came back"
    spooled = audit.metrics.spooled._value.get()
    assert spooled > 0
    assert audit.close()
    want = set(ids)
    events = consume(kafka_bootstrap, topic, want, timeout=180)
    assert want <= {e.event_id for e in events}, f"lost {len(want - {e.event_id for e in events})}"


SPOOLING_PRODUCER = r"""
import sys, time
from prometheus_client import CollectorRegistry
from privtrail.sdk import AuditClient, DeliveryOptions
mode, bootstrap, topic, spool, delivery = sys.argv[1:6]
audit = AuditClient(
    bootstrap=bootstrap, service="it-killed", topic=topic, spool_dir=spool,
    pseudonym_key=bytes(range(32)), pseudonym_key_id="it", registry=CollectorRegistry(),
    options=DeliveryOptions(broker_timeout=0.5, spool_fsync="always", delivery=delivery),
)
if mode == "spool":
    while not audit.spooling:
        time.sleep(0.05)
    print("SPOOLING", flush=True)
    n = 0
    while True:  # until SIGKILL
        event_id = audit.corrected(f"subject{n % 20}", request_id=f"r{n}")
        print(event_id, flush=True)  # printed after the fsync'ed append returned
        n += 1
else:
    ok = audit.flush(120)
    print("DELIVERED" if ok and audit.close() else "NOT DELIVERED", flush=True)
"""


def readline(stream: Any, deadline: float) -> str:
    """One line from a child's stdout, or a test failure at the deadline (never hang)."""
    ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
    if not ready:
        pytest.fail("the producer subprocess stopped answering")
    return str(stream.readline()).strip()


@MODES
def test_sigkill_while_spooling_then_restart_delivers_the_spool(
    kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path, delivery: str
) -> None:
    topic = kafka_topic_factory(partitions=2)
    spool = tmp_path / "spool"
    unreachable = "127.0.0.1:9"  # discard port: nothing listens, the producer must spool
    env = {**os.environ, "PRIVTRAIL_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SPOOLING_PRODUCER,
            "spool",
            unreachable,
            topic,
            str(spool),
            delivery,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    durable: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert proc.stdout is not None
        assert readline(proc.stdout, deadline) == "SPOOLING"
        while len(durable) < 500:
            line = readline(proc.stdout, deadline)
            assert line, "producer died early"
            durable.append(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # mid-write, most likely
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert any(spool.glob("*.spool"))

    restart = subprocess.run(
        [
            sys.executable,
            "-c",
            SPOOLING_PRODUCER,
            "deliver",
            kafka_bootstrap,
            topic,
            str(spool),
            delivery,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert restart.stdout.strip() == "DELIVERED", restart.stderr[-2000:]
    assert not list(spool.glob("*.spool"))
    events = consume(kafka_bootstrap, topic, set(durable))
    got = [e.event_id for e in events]
    assert set(durable) <= set(got)
    # in order per subject too: the spool is replayed front to back
    by_subject: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_subject[e.subject_id].append(int(e.request_id[1:]))
    assert all(seq == sorted(seq) for seq in by_subject.values())


# -- process delivery: either process may die ------------------------------------------------
def shipper_pid(spool: Path, not_in: list[int], timeout: float = 30.0) -> int:
    """The pid of the shipper now delivering ``spool`` (from its mark), once it has one."""
    from privtrail.sdk.shipmark import read_mark

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mark = read_mark(spool)
        if mark is not None and mark.pid > 0 and mark.pid not in not_in:
            return mark.pid
        time.sleep(0.05)
    pytest.fail("no shipper reported a mark")


def test_process_delivery_survives_its_shipper_being_killed(
    kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path
) -> None:
    from privtrail.sdk.shipmark import read_mark

    topic = kafka_topic_factory(partitions=2)
    spool = tmp_path / "spool"
    audit = client(kafka_bootstrap, topic, spool, options=DeliveryOptions(delivery="process"))
    ids: list[str] = []
    killed: list[int] = []
    for n in range(20_000):
        ids.append(audit.corrected(f"subject{n % 100}", request_id=f"r{n}"))
        if n in (5_000, 12_000):  # mid-stream, twice: the monitor starts a new one each time
            pid = shipper_pid(spool, not_in=killed)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    assert audit.flush(120), "a new shipper did not deliver the rest"
    mark = read_mark(spool)
    assert mark is not None and mark.pid not in killed
    assert audit.close()
    assert not list(spool.glob("*.spool"))
    events = consume(kafka_bootstrap, topic, set(ids))
    assert set(ids) <= {e.event_id for e in events}
    first: dict[str, int] = {}
    by_subject: dict[str, list[int]] = defaultdict(list)
    for e in events:  # resent records come again: order holds for first copies
        if e.event_id not in first:
            first[e.event_id] = 1
            by_subject[e.subject_id].append(int(e.request_id[1:]))
    assert all(seq == sorted(seq) for seq in by_subject.values())


KILLED_SERVICE = r"""
import sys
from prometheus_client import CollectorRegistry
from privtrail.sdk import AuditClient, DeliveryOptions
bootstrap, topic, spool, out = sys.argv[1:5]
audit = AuditClient(
    bootstrap=bootstrap, service="it-killed", topic=topic, spool_dir=spool,
    pseudonym_key=bytes(range(32)), pseudonym_key_id="it", registry=CollectorRegistry(),
    options=DeliveryOptions(delivery="process", spool_fsync="never"),
)
ids = [audit.corrected(f"subject{n % 20}", request_id=f"r{n}") for n in range(30_000)]
with open(out, "w") as fh:
    fh.write("\n".join(ids))
print("EMITTED", flush=True)
sys.stdin.readline()  # until SIGKILL: never closes, never flushes
"""


def test_process_delivery_a_service_killed_with_sigkill_is_still_delivered(
    kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path
) -> None:
    topic = kafka_topic_factory(partitions=2)
    spool = tmp_path / "spool"
    emitted = tmp_path / "emitted.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SERVICE, kafka_bootstrap, topic, str(spool), str(emitted)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PRIVTRAIL_HOME": str(tmp_path / "home")},
    )
    try:
        assert proc.stdout is not None
        assert readline(proc.stdout, time.monotonic() + 120) == "EMITTED"
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no close(), no flush(), no atexit
        proc.wait(timeout=10)
    ids = emitted.read_text().split()
    assert len(ids) == 30_000
    # Nobody restarts it: the orphaned shipper delivers the spool, deletes it and exits.
    events = consume(kafka_bootstrap, topic, set(ids))
    assert set(ids) <= {e.event_id for e in events}
    end = time.monotonic() + 30
    while list(spool.glob("*.spool")) and time.monotonic() < end:
        time.sleep(0.1)
    assert not list(spool.glob("*.spool")), "the shipper left delivered segments behind"


def test_process_delivery_full_spool_refuses_at_the_call_and_keeps_what_it_accepted(
    kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path
) -> None:
    from privtrail.sdk import SpoolFullError

    topic = kafka_topic_factory(partitions=2)
    spool = tmp_path / "spool"
    small = DeliveryOptions(delivery="process", spool_max_bytes=16_384, broker_timeout=0.5)
    lost = client("127.0.0.1:9", topic, spool, options=small)  # nothing listens there
    accepted: list[str] = []
    try:
        with pytest.raises(SpoolFullError):
            for n in range(1_000):
                accepted.append(lost.corrected(f"subject{n % 10}", request_id=f"r{n}"))
        assert lost.metrics.spool_full._value.get() == 1
        assert 0 < len(accepted) < 1_000
    finally:
        assert not lost.close(1)  # not delivered: kept for the next run
    found = client(kafka_bootstrap, topic, spool, options=DeliveryOptions(delivery="process"))
    assert found.flush(60), "the next run did not deliver what the full spool had accepted"
    assert found.close()
    events = consume(kafka_bootstrap, topic, set(accepted))
    assert set(accepted) <= {e.event_id for e in events}


@pytest.mark.parametrize("fsync", ["interval", "always"])
def test_async_client_with_process_delivery_delivers_in_order(
    kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path, fsync: str
) -> None:
    import asyncio

    from privtrail.sdk import AsyncAuditClient

    topic = kafka_topic_factory(partitions=2)

    async def main() -> list[str]:
        audit = AsyncAuditClient(
            bootstrap=kafka_bootstrap,
            service="it-async",
            topic=topic,
            spool_dir=tmp_path / "spool",
            pseudonym_key=KEY,
            pseudonym_key_id="it",
            registry=CollectorRegistry(),
            options=DeliveryOptions(delivery="process", spool_fsync=fsync),  # type: ignore[arg-type]
        )
        # "always" fsyncs every append: those calls run in the client's worker thread
        assert audit.sync.fsyncs_each_call is (fsync == "always")
        ids = [await audit.corrected(f"subject{n % 10}", request_id=f"r{n}") for n in range(500)]
        assert await audit.flush(60)
        assert await audit.close()
        return ids

    ids = asyncio.run(main())
    events = consume(kafka_bootstrap, topic, set(ids))
    by_subject: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for e in events:
        if e.event_id not in seen:
            seen.add(e.event_id)
            by_subject[e.subject_id].append(int(e.request_id[1:]))
    assert seen >= set(ids)
    assert all(seq == sorted(seq) for seq in by_subject.values())
