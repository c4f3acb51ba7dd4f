"""Sink benchmark: throughput, freshness and verify speed, each next to a bare baseline.

    python benchmarks/bench_sink.py [--events 100000] [--partitions 2]

Starts a throwaway local stack (real Kafka + ClickHouse) unless ``--use-env`` is given, in
which case the servers named by the usual ``PRIVTRAIL_*`` variables are used. Prints:

* throughput: rows/s from Kafka into ClickHouse through the sink (decode, Merkle append,
  dedup-token insert, offset commit), vs. a bare clickhouse-connect insert of the same rows;
* freshness: p50/p99 seconds from producer send to the row being queryable, vs. the bare
  round trip of one insert followed by a query;
* verify: ``privtrail verify`` time per event extrapolated to 10 million events, vs. a bare
  SHA-256 over the same canonical bytes in this process.

A benchmark, not a test: it asserts nothing and prints ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from privtrail.sinks.migrate import migrate
from privtrail.sinks.rows import EVENT_COLUMNS, fresh_log_rows
from privtrail.sinks.samples import sample_events
from privtrail.sinks.settings import SinkSettings, connect, load_verifiers
from privtrail.sinks.testing import encoded_events, produce, running_sink, settings_for, wait_for
from privtrail.sinks.verify import verify_history

TEN_MILLION = 10_000_000


def _count(client: Any, topic: str) -> int:
    return int(
        client.query(
            "SELECT count() FROM privtrail.events WHERE log_topic={t:String}",
            parameters={"t": topic},
        ).result_rows[0][0]
    )


def _topic(admin: Any, name: str, partitions: int) -> str:
    admin.create_topics(
        {name: {"num_partitions": partitions, "replication_factor": 1}}, wait_for_metadata=True
    )
    return name


def bench_throughput(
    stack: Any, admin: Any, client: Any, events: list[Any], parts: int
) -> tuple[float, float, str, SinkSettings]:  # noqa: E501
    tag = uuid.uuid4().hex[:6]
    valid = _topic(admin, f"bench-valid-{tag}", parts)
    alerts = _topic(admin, f"bench-alerts-{tag}", 1)
    t = time.perf_counter()
    produce(stack.kafka.bootstrap, valid, encoded_events(events), key=lambda n: str(n).encode())
    print(f"  produced {len(events)} events in {time.perf_counter() - t:.1f}s", flush=True)
    settings = settings_for(
        stack, valid, alerts, batch_max_rows=50_000, batch_max_seconds=1.0,
        checkpoint_interval=60.0,
    )  # fmt: skip
    # The sink runs in a thread of this process, which also holds the generated events (100k
    # pydantic models, ~1M objects a real sink process does not have). Every full collection
    # of the cyclic GC would walk them, on the sink's time: freeze them out of the collector
    # for the run, as if the sink were alone in its process (`privtrail sink`).
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        with running_sink(settings):
            wait_for(lambda: _count(client, valid) > 0, timeout=120, interval=0.05)
            t0, c0, cpu0 = time.perf_counter(), _count(client, valid), time.process_time()
            wait_for(lambda: _count(client, valid) >= len(events), timeout=600, interval=0.05)
            t1, c1, cpu1 = time.perf_counter(), _count(client, valid), time.process_time()
    finally:
        gc.unfreeze()
    sink_rate = (c1 - c0) / (t1 - t0) if t1 > t0 else float("nan")
    # The sink decodes the next batch while the first is being inserted, so the window from
    # the first visible row misses up to one batch of decoding: use many batches' worth of
    # events (--events), and see the whole run (group join and state load included) as the
    # conservative figure.
    print(f"  whole run, sink start -> last row: {c1 / (t1 - started):,.0f} rows/s")
    # Process CPU (the sink's thread, its insert thread and this polling) per landed row.
    print(f"  sink process CPU {(cpu1 - cpu0) / max(1, c1 - c0) * 1e6:.1f} us/row", flush=True)

    # Baseline: the same rows (already built), bare clickhouse-connect inserts, same batch size.
    rows = fresh_log_rows(events, topic=f"bench-bare-{tag}")
    t = time.perf_counter()
    for start in range(0, len(rows), 50_000):
        # Column-oriented, like the sink's own inserts, but no Kafka, decoding or hashing.
        client.insert(
            "privtrail.events",
            list(zip(*rows[start : start + 50_000], strict=True)),
            column_names=list(EVENT_COLUMNS),
            column_oriented=True,
        )
    bare_rate = len(rows) / (time.perf_counter() - t)
    return sink_rate, bare_rate, valid, settings


def bench_freshness(
    stack: Any, admin: Any, client: Any, seconds: float, rate: int
) -> tuple[list[float], float]:  # noqa: E501
    from kafka import KafkaProducer

    from privtrail.wire import encode_event

    tag = uuid.uuid4().hex[:6]
    valid = _topic(admin, f"bench-fresh-{tag}", 1)
    alerts = _topic(admin, f"bench-fresh-alerts-{tag}", 1)
    settings = settings_for(stack, valid, alerts, batch_max_rows=5_000, batch_max_seconds=0.1)
    events = list(sample_events(int(seconds * rate), prefix=f"f{tag}"))
    payloads = [encode_event(e) for e in events]  # type: ignore[arg-type]
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    producer = KafkaProducer(bootstrap_servers=stack.kafka.bootstrap, linger_ms=1)
    with running_sink(settings):
        producer.send(valid, payloads[0]).get(30)  # warm up: group joined, first row landed
        sent[events[0].event_id] = time.perf_counter()
        wait_for(lambda: _count(client, valid) > 0, timeout=60, interval=0.05)
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                ids = client.query(
                    "SELECT event_id FROM privtrail.events WHERE log_topic={t:String}",
                    parameters={"t": valid},
                ).result_rows
                now = time.perf_counter()
                for (eid,) in ids:
                    seen.setdefault(eid, now)
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        interval = 1.0 / rate
        start = time.perf_counter()
        for i, (event, payload) in enumerate(zip(events[1:], payloads[1:], strict=True)):
            target = start + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[event.event_id] = time.perf_counter()
            producer.send(valid, payload)
        producer.flush()
        wait_for(lambda: len(seen) >= len(events), timeout=60)
        done.set()
        poller.join()
    producer.close()
    latencies = sorted(seen[e] - sent[e] for e in sent if e in seen and e != events[0].event_id)

    # Baseline: one bare insert of a small batch, then the query that makes it visible.
    rows = fresh_log_rows(sample_events(100, prefix=f"fb{tag}"), topic=f"bench-fresh-bare-{tag}")
    rounds = []
    for n in range(20):
        t = time.perf_counter()
        client.insert("privtrail.events", rows[n * 5 : n * 5 + 5], column_names=list(EVENT_COLUMNS))
        client.query("SELECT count() FROM privtrail.events WHERE log_topic={t:String}",
                     parameters={"t": f"bench-fresh-bare-{tag}"})  # fmt: skip
        rounds.append(time.perf_counter() - t)
    return latencies, statistics.median(rounds)


def bench_verify(client: Any, settings: SinkSettings, events: list[Any]) -> tuple[float, float]:
    t = time.perf_counter()
    report = verify_history(
        client, settings.topics.valid, load_verifiers(settings), origin=settings.origin
    )
    elapsed = time.perf_counter() - t
    rows = sum(p.rows for p in report.partitions)
    if not report.ok:
        print("  verify reported problems:\n" + report.render(), file=sys.stderr)
    blobs = [b"\x00" + e.canonical_bytes() for e in events]
    t = time.perf_counter()
    for blob in blobs:
        hashlib.sha256(blob).digest()
    bare = time.perf_counter() - t
    return elapsed / rows * TEN_MILLION, bare / len(blobs) * TEN_MILLION


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--fresh-seconds", type=float, default=5.0)
    parser.add_argument("--fresh-rate", type=int, default=2_000, help="events/s while measuring")
    parser.add_argument("--use-env", action="store_true", help="use the running stack")
    args = parser.parse_args()

    from kafka import KafkaAdminClient

    from privtrail.stack.testing import start_throwaway_stack

    home = Path(tempfile.mkdtemp(prefix="privtrail-bench-"))
    stack = None
    if args.use_env:
        from privtrail.stack.manager import Stack

        stack = Stack.from_env()
    else:
        stack = start_throwaway_stack(home)
    try:
        env_settings = settings_for(stack, "unused", "unused")
        admin_ch = connect(env_settings, "admin")
        migrate(admin_ch)
        writer = connect(env_settings, "writer")
        kafka = KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
        print(f"generating {args.events} events ...", flush=True)
        events = list(sample_events(args.events, prefix=f"b{uuid.uuid4().hex[:6]}"))

        print("throughput ...", flush=True)
        sink_rate, bare_rate, _, settings = bench_throughput(
            stack, kafka, writer, events, args.partitions
        )
        print(f"  sink          {sink_rate:12,.0f} rows/s")
        print(f"  bare insert   {bare_rate:12,.0f} rows/s")
        print(f"  ratio sink/bare = {sink_rate / bare_rate:.2f}  (target: sink >= 50,000 rows/s)")

        print("freshness ...", flush=True)
        latencies, bare_round = bench_freshness(
            stack, kafka, writer, args.fresh_seconds, args.fresh_rate
        )
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"  send -> queryable p50 {p50 * 1000:8.1f} ms, p99 {p99 * 1000:8.1f} ms "
              f"({len(latencies)} events at {args.fresh_rate}/s)")  # fmt: skip
        print(f"  bare insert+query      {bare_round * 1000:8.1f} ms")
        print(f"  ratio p99/bare = {p99 / bare_round:.1f}")

        print("verify ...", flush=True)
        verify_10m, sha_10m = bench_verify(writer, settings, events)
        print(f"  verify, extrapolated to 10M events   {verify_10m:8.1f} s  (target < 60 s)")
        print(f"  bare SHA-256 over the same bytes     {sha_10m:8.1f} s")
        print(f"  ratio verify/bare = {verify_10m / sha_10m:.1f}")
        kafka.close()
    finally:
        if not args.use_env and stack is not None:
            stack.down()


if __name__ == "__main__":
    main()
