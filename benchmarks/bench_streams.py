"""Stream worker throughput and send-to-alert latency, next to a bare aiokafka loop.

    /tmp/pv/bin/python benchmarks/bench_streams.py [--bootstrap HOST:PORT] [--events N]
        [--rate R] [--seconds S] [--partitions P] [--throughput-only | --latency-only]
        [--profile FILE]

Starts a throwaway local stack (real Apache Kafka; the stack brings ClickHouse too)
unless ``--bootstrap`` names a running broker. Then, on fresh topics:

1. throughput: N events are produced up front; one ``privtrail worker`` (subprocess)
   drains them through validate + enforce (done: the worker group's committed offsets
   on the events topic reach the end; validate enforces in place). The rate runs from
   the first event validate forwarded to the valid topic to the last alert enforce wrote
   (one event in ten raises one), so start-up does not count and every stage does. The
   baseline is a bare aiokafka loop (subprocess) doing two hops without decoding, rules
   or tables: events -> copy topic -> out topic, its rate read the same way (first copy
   to last out record).
   Both report CPU microseconds per event (user + system, from /proc): on a shared
   machine the steadier measure. ``--profile FILE`` samples the worker with py-spy
   (collapsed stacks) while it drains.
2. latency: events are sent through the SDK (``AuditClient``) at R events/s for S s; every
   tenth one raises an alert; latency = alert seen on ``privacy.alerts`` - ``emit`` call.
   The baseline sends the same way and times the same events through the bare loop.

Prints events/s, p50/p99 and the ratios to the baseline. Not a test: nothing passes or
fails. The machine is shared and noisy; compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

READY = "[^Worker]: Ready"


# -- the bare baseline: two aiokafka hops, no decoding ------------------------------------
async def baseline_loop(bootstrap: str, group: str, src: str, mid: str, out: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await producer.start()

    async def hop(topic: str, to: str) -> None:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=True,
            auto_commit_interval_ms=1000,
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=100, max_records=1000)
                for records in batches.values():
                    for r in records:
                        await producer.send(to, value=r.value, key=r.key)
        finally:
            await consumer.stop()

    try:
        await asyncio.gather(hop(src, mid), hop(mid, out))
    finally:
        await producer.stop()


# -- helpers --------------------------------------------------------------------------------
def committed(admin: Any, group: str, topic: str) -> int:
    try:
        if hasattr(admin, "list_group_offsets"):  # kafka-python 3
            offsets = admin.list_group_offsets(group).get(group, {})
        else:
            offsets = admin.list_consumer_group_offsets(group)
    except Exception:  # the group does not exist yet
        return 0
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


def wait_drained(admin: Any, group: str, topic: str, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while committed(admin, group, topic) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{group} did not drain {topic} in {timeout} s "
                f"({committed(admin, group, topic)}/{total})"
            )
        time.sleep(0.2)


def record_stamps(bootstrap: str, topic: str) -> list[int]:
    """Every record timestamp (ms, CreateTime: set by the writer at send) of ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    stamps: list[int] = []
    while any(consumer.position(tp) < end[tp] for tp in tps):
        for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
            stamps.extend(r.timestamp for r in records)
    consumer.close()
    return stamps


def drain_rate(bootstrap: str, first_topic: str, last_topic: str, events: int) -> float:
    """Events/s from the first record the drain wrote (on ``first_topic``, its first hop's
    output) to the last (on ``last_topic``, its last hop's): free of start-up time and
    commit intervals, and covering every stage. (From one topic alone a later stage can
    look faster than the pipeline: it starts on a backlog an earlier stage built.)"""
    first = min(record_stamps(bootstrap, first_topic))
    last = max(record_stamps(bootstrap, last_topic))
    return events / max((last - first) / 1000, 1e-3)


def start_process(
    args: list[str], env: dict[str, str], log: Path, ready: str | None, timeout: float = 120
) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        proc = subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if ready is None:
        return proc
    deadline = time.monotonic() + timeout
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{args[2:5]} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``).

    Wall-clock rates on a shared 2-core machine are noisy; CPU per event is not. The
    process must still run: a figure from a dead one would be wrong, not missing.
    """
    from privtrail.bench.measure import cpu_seconds as read_cpu

    value = read_cpu(pid)
    if value is None:
        raise RuntimeError(f"process {pid} exited before its CPU time was read")
    return value


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy (if installed) sampling ``pid`` into collapsed stacks at ``out``."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("   (py-spy not installed: no profile)")
        return None
    args = [str(spy), "record", "--pid", str(pid), "--format", "raw", "-o", str(out), "-r", "200"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def workload(tag: str, n: int, subjects: int) -> tuple[list[dict[str, Any]], set[str]]:
    """``n`` JSON-form events after one ``collected`` per subject; every tenth event is a
    use for an undeclared purpose (an alert). Returns the forms and the alerting ids."""
    from privtrail.bench.workload import number_letters

    t0 = datetime.now(UTC) - timedelta(hours=1)
    forms: list[dict[str, Any]] = []
    alerting: set[str] = set()
    base = {"source": {"service": "bench-app"}, "actor": {"kind": "service", "id": "bench-app"}}

    def add(body: dict[str, Any]) -> str:
        eid = f"bs-{tag}-{number_letters(len(forms))}"
        stamp = (t0 + timedelta(milliseconds=len(forms))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        forms.append({**base, "event_id": eid, "occurred_at": stamp, **body})
        return eid

    people = [f"ps_bench_{tag}_{number_letters(i)}" for i in range(subjects)]
    for p in people:
        add(
            {
                "type": "collected",
                "subject_id": p,
                "context": "tech_support",
                "method": "inquiry_board",
                "items": ["email", "contact_name"],
                "purposes": ["user_management"],
            }
        )
    for k in range(n):
        p = people[k % subjects]
        purpose = "service_improvement" if k % 10 == 9 else "user_management"
        eid = add(
            {
                "type": "used",
                "subject_id": p,
                "items": ["email"],
                "purpose": purpose,
                "operation": "view",
            }
        )
        if k % 10 == 9:
            alerting.add(eid)
    return forms, alerting


def produce(bootstrap: str, topic: str, forms: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer

    from privtrail.events import parse_event
    from privtrail.wire import encode_event

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=262144)
    for form in forms:
        event = parse_event(form)
        producer.send(
            topic,
            key=event.subject_id.encode() if event.subject_id else None,
            value=encode_event(event),
        )
    producer.flush()
    producer.close()


def paced_latency(
    bootstrap: str,
    events_topic: str,
    watch: str,
    forms: list[dict[str, Any]],
    measured: set[str],
    rate: int,
    id_of: Callable[[bytes], str | None],
    spool: Path,
    emitted_at: dict[str, float] | None = None,
) -> list[float]:
    """Send ``forms`` through the SDK at ``rate``/s; seconds from emit to ``watch``."""
    from kafka import KafkaConsumer, TopicPartition

    from privtrail.sdk import AuditClient

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    tps = [TopicPartition(watch, p) for p in sorted(consumer.partitions_for_topic(watch))]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    seen: dict[str, float] = {}
    sent: dict[str, float] = {}
    stop_flag = threading.Event()

    def watch_loop() -> None:
        while not stop_flag.is_set():
            for records in consumer.poll(timeout_ms=50).values():
                now = time.monotonic()
                for r in records:
                    eid = id_of(r.value)
                    if eid is not None and eid not in seen:
                        seen[eid] = now

    watcher = threading.Thread(target=watch_loop)
    watcher.start()
    client = AuditClient(
        bootstrap=bootstrap,
        service="bench-app",
        topic=events_topic,
        dev_mode=True,
        spool_dir=spool,
        producer_config={"linger_ms": 1},
    )
    try:
        # Warm up: the client's shipper process starts and fetches the topic's metadata
        # (0.3-0.5 s) before the clock starts, with the first form (not a measured one).
        assert forms[0]["event_id"] not in measured
        client.emit_json(forms[0])
        client.flush(30)
        start = time.monotonic()
        for n, form in enumerate(forms[1:]):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[form["event_id"]] = time.monotonic()
            if emitted_at is not None:  # wall clock, to compare with Kafka record timestamps
                emitted_at[form["event_id"]] = time.time()
            client.emit_json(form)
        client.flush(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not measured <= set(seen):
            time.sleep(0.2)
    finally:
        client.close()
        stop_flag.set()
        watcher.join()
        consumer.close()
    if os.environ.get("BENCH_DEBUG"):
        firsts = sorted(seen.values())
        print(
            "   debug: first seen",
            [round(x - start, 2) for x in firsts[:5]],
            "last",
            round(firsts[-1] - start, 2) if firsts else None,
            "sent span",
            round(max(sent.values()) - start, 2),
        )
    missing = len(measured - set(seen))
    if missing:
        print(f"   ({missing} of {len(measured)} measured events not seen in time)")
    return sorted(seen[e] - sent[e] for e in measured if e in seen)


def record_times(
    bootstrap: str, topic: str, id_of: Callable[[bytes], str | None], wanted: set[str]
) -> dict[str, float]:
    """Kafka record timestamp (CreateTime, set by the producer at send) of the first record
    on ``topic`` for each wanted event id, in seconds since the epoch."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        found: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=200, max_records=5_000).values():
                for r in records:
                    eid = id_of(r.value)
                    if eid in wanted and eid not in found:
                        found[eid] = r.timestamp / 1000
        return found
    finally:
        consumer.close()


def hop_breakdown(
    bootstrap: str,
    topics: dict[str, str],
    emitted_at: dict[str, float],
    measured: set[str],
) -> None:
    """Where send -> alert goes, from the record timestamps of the same events on each topic:
    the SDK (emit -> record on the events topic), validate (-> valid topic), enforce
    (-> alert record). Producer clocks are this machine's, so the differences are exact."""
    from privtrail.wire import decode_alert, decode_event_trusted

    def event_id(value: bytes) -> str | None:
        try:
            return decode_event_trusted(value).event_id
        except Exception:  # noqa: BLE001 (a foreign record: not one of ours)
            return None

    on_events = record_times(bootstrap, topics["events"], event_id, measured)
    on_valid = record_times(bootstrap, topics["valid"], event_id, measured)
    on_alerts = record_times(
        bootstrap, topics["alerts"], lambda v: decode_alert(v).event_id, measured
    )
    hops = (
        ("SDK: emit -> events topic", emitted_at, on_events),
        ("validate: -> valid topic", on_events, on_valid),
        # 0 when validate enforced the event in place (the alert follows the forward)
        ("enforce: -> alert record", on_valid, on_alerts),
    )
    for label, start, end in hops:
        gaps = sorted(end[e] - start[e] for e in measured if e in start and e in end)
        if gaps:
            print(
                f"    {label:28s} p50 {pct(gaps, 50) * 1000:7.1f} ms   "
                f"p99 {pct(gaps, 99) * 1000:7.1f} ms   (n={len(gaps)})"
            )


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


# -- the run ------------------------------------------------------------------------------------
def run(bootstrap: str, args: argparse.Namespace, work: Path) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    from privtrail.bench.workload import number_letters
    from privtrail.wire import decode_alert

    tag = number_letters(int(uuid.uuid4().hex[:6], 16))
    t = {
        name: f"bench.{name}.{tag}"
        for name in ("events", "valid", "dlq", "alerts", "copy", "out", "levents", "lcopy", "lout")
    }
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, args.partitions, 1) for name in t.values()])
    app_id = f"bench-worker-{tag}"
    env = {
        **os.environ,
        "PRIVTRAIL_HOME": str(work),
        "PRIVTRAIL_TOPIC_EVENTS": t["events"],
        "PRIVTRAIL_TOPIC_VALID": t["valid"],
        "PRIVTRAIL_TOPIC_DLQ": t["dlq"],
        "PRIVTRAIL_TOPIC_ALERTS": t["alerts"],
        "PRIVTRAIL_WORKER_LOG_LEVEL": "warning",
    }
    worker_cmd = [
        sys.executable,
        "-m",
        "privtrail.cli.main",
        "worker",
        "--bootstrap",
        bootstrap,
        "--partitions",
        str(args.partitions),
        "--app-id",
        app_id,
        "--loglevel",
        "info",
    ]
    me = [sys.executable, __file__]

    forms, _ = workload(tag, args.events, args.subjects)
    if not args.latency_only:
        print(
            f"throughput: {len(forms):,} events, {args.subjects:,} subjects, "
            f"{args.partitions} partitions, one worker"
        )
        produce(bootstrap, t["events"], forms)
        base = start_process(
            me + ["--baseline-loop", bootstrap, f"base-{tag}", t["events"], t["copy"], t["out"]],
            env,
            work / "base.log",
            None,
        )
        try:
            wait_drained(admin, f"base-{tag}", t["copy"], len(forms), 600)
            base_cpu = cpu_seconds(base.pid)
        finally:
            stop(base)
        base_rate = drain_rate(bootstrap, t["copy"], t["out"], len(forms))
    worker = start_process(worker_cmd, env, work / "worker.log", READY)
    try:
        if not args.latency_only:
            cpu0 = cpu_seconds(worker.pid)
            spy = start_profile(worker.pid, Path(args.profile)) if args.profile else None
            # Keyed by subject on a topic laid out like the tables: validate enforces
            # every event in place, so its commits on the events topic are enforce's.
            wait_drained(admin, app_id, t["events"], len(forms), 900)
            worker_cpu = cpu_seconds(worker.pid) - cpu0
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(30)
            # from validate's first forward to the last alert enforce wrote (one event in
            # ten raises one)
            rate = drain_rate(bootstrap, t["valid"], t["alerts"], len(forms))
            n = len(forms)
            print(
                f"  bare aiokafka loop (2 hops)   {base_rate:10,.0f} events/s   "
                f"CPU {base_cpu / n * 1e6:6.0f} us/event (incl. start-up)"
            )
            print(
                f"  worker validate + enforce     {rate:10,.0f} events/s   "
                f"CPU {worker_cpu / n * 1e6:6.0f} us/event   "
                f"ratio {rate / base_rate:.2f} of bare (target >= 10,000/s)"
            )
            print(f"  load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
            if args.throughput_only:
                return

        n_live = args.rate * args.seconds
        live, alerting = workload(tag + "l", n_live, args.subjects)
        # The collected events first, unmeasured, so every subject exists.
        warm, run_forms = live[: args.subjects], live[args.subjects :]
        produce(bootstrap, t["events"], warm)
        time.sleep(3)
        print(
            f"latency: SDK emit -> alert on privacy.alerts, {args.rate:,} events/s for "
            f"{args.seconds} s ({len(alerting):,} alerts measured)"
        )

        def alert_event(value: bytes) -> str | None:
            return decode_alert(value).event_id

        emitted_at: dict[str, float] = {}
        lat = paced_latency(
            bootstrap,
            t["events"],
            t["alerts"],
            run_forms,
            alerting,
            args.rate,
            alert_event,
            work / "spool-w",
            emitted_at,
        )
    finally:
        stop(worker)

    base = start_process(
        me + ["--baseline-loop", bootstrap, f"lbase-{tag}", t["levents"], t["lcopy"], t["lout"]],
        env,
        work / "lbase.log",
        None,
    )
    try:
        time.sleep(5)  # the group joins
        from privtrail.wire import decode_event

        def event_id(value: bytes) -> str | None:
            return decode_event(value).event_id

        produce(bootstrap, t["levents"], warm)
        base_lat = paced_latency(
            bootstrap,
            t["levents"],
            t["lout"],
            run_forms,
            alerting,
            args.rate,
            event_id,
            work / "spool-b",
        )
    finally:
        stop(base)
    admin.close()
    if not lat or not base_lat:
        print("  no latency samples")
        return
    for label, values in (("bare aiokafka loop (2 hops)", base_lat), ("worker", lat)):
        print(
            f"  {label:28s}  p50 {pct(values, 50) * 1000:7.1f} ms   "
            f"p99 {pct(values, 99) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
        )
    print(
        f"  ratio p99 worker / bare: {pct(lat, 99) / pct(base_lat, 99):.1f}   "
        f"(target p99 < 1000 ms)"
    )
    print("  worker, per hop (record timestamps):")
    hop_breakdown(bootstrap, t, emitted_at, alerting)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--baseline-loop":
        asyncio.run(baseline_loop(*sys.argv[2:7]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="a running broker (default: a throwaway stack)")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--subjects", type=int, default=2_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rate", type=int, default=2_000, help="events/s while timing latency")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="py-spy collapsed stacks of the worker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
        work = Path(tmp)
        if args.bootstrap:
            run(args.bootstrap, args, work)
            return
        from privtrail.stack.testing import start_throwaway_stack

        stack = start_throwaway_stack(work / "stack")
        try:
            run(stack.kafka.bootstrap, args, work)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
