"""The SDK's cost, next to a bare kafka-python producer sending the same bytes.

    /tmp/pv/bin/python benchmarks/bench_sdk.py [--number N] [--bootstrap HOST:PORT]

Without ``--bootstrap`` it starts its own Apache Kafka broker (privtrail.stack, in a temp
home) and stops it at the end. It reports, for one process:

* caller-side cost per event (median, p99, in microseconds): what a service's thread pays
  for ``audit.used(...)`` (validation + pseudonym + encoding + enqueue), against the bare
  ``producer.send(topic, value, key)`` of pre-encoded bytes;
* sustained events/s into the broker, from the first call until ``flush()`` returns, for both;
* process CPU time per event (all threads): steadier than wall-clock rates on a busy machine;
* the caller's cost when it calls at a paced rate (``--paced-rate``, default 5,000/s), as
  a service does between its own work, next to the flat-out figures above;
* the caller thread's voluntary context switches per 1,000 events (Linux): each one is the
  caller waiting for the GIL while the sender or kafka-python's I/O thread runs, which is
  what makes up the caller's p99. Unlike the p99 it hardly depends on the machine's load.

Ratios (SDK / bare) are measured in the same run, so they mean something on a shared machine.
Not a test: nothing here passes or fails. Targets: caller median/p99 < 50 us, >= 20,000/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from prometheus_client import CollectorRegistry

from privtrail.sdk import AuditClient, staff
from privtrail.sdk.producer import build_producer

KEY = bytes(range(32))
SUBJECTS = 1_000


@contextmanager
def local_kafka() -> Iterator[str]:
    """A throw-away local stack (the same one the integration tests start)."""
    from privtrail.stack.testing import start_throwaway_stack

    with tempfile.TemporaryDirectory(prefix="bench-sdk-") as home:
        stack = start_throwaway_stack(Path(home))
        try:
            yield stack.kafka.bootstrap
        finally:
            stack.down()


def new_topic(admin: Any) -> str:
    name = f"bench-sdk-{uuid.uuid4().hex[:8]}"
    admin.create_topics(
        {name: {"num_partitions": 4, "replication_factor": 1}}, wait_for_metadata=True
    )
    return name


def gil_waits() -> int:
    """Voluntary context switches of the calling thread so far (0 where /proc is missing)."""
    try:
        with open("/proc/thread-self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def warm_client(bootstrap: str, topic: str, spool: Path) -> AuditClient:
    """An SDK client connected and past its first delivery (metadata fetched)."""
    audit = AuditClient(
        bootstrap=bootstrap,
        service="bench",
        topic=topic,
        spool_dir=spool,
        pseudonym_key=KEY,
        pseudonym_key_id="bench",
        registry=CollectorRegistry(),
    )
    audit.used("warm-up", items=["phone"], purpose="user_management", operation="view")
    assert audit.flush(30)
    return audit


def timed_call(audit: AuditClient, n: int, actor: Any) -> float:
    """Microseconds the caller's thread spends in one ``audit.used`` call."""
    t0 = time.perf_counter_ns()
    audit.used(
        f"customer-{n % SUBJECTS}",
        items=["phone", "email"],
        purpose="user_management",
        operation="view",
        actor=actor,
    )
    return (time.perf_counter_ns() - t0) / 1000


def run_sdk(
    bootstrap: str, topic: str, number: int, spool: Path
) -> tuple[Result, list[tuple[Any, Any]]]:
    """Per-call microseconds and events/s; also returns the (key, value) bytes it sent."""
    audit = warm_client(bootstrap, topic, spool)
    actor = staff("agent-7")
    costs: list[float] = []
    waits0 = gil_waits()
    cpu0 = time.process_time()
    started = time.perf_counter()
    for n in range(number):
        costs.append(timed_call(audit, n, actor))
    waits = (gil_waits() - waits0) / number * 1000
    flushed = audit.flush(300)
    elapsed = time.perf_counter() - started
    cpu = (time.process_time() - cpu0) / number * 1e6
    spooled = audit.metrics.spooled._value.get()
    audit.close()
    if not flushed:
        raise SystemExit("the SDK did not deliver everything within 300 s")
    if spooled:
        print(f"   note: {spooled:.0f} events overflowed to the spool during the SDK run")
    # the same bytes for the bare run: built by the SDK's own builder, outside any timing
    builder = audit._builder
    sample = [
        builder.encode(
            builder.build(
                "used",
                f"customer-{n % SUBJECTS}",
                {"items": ["phone", "email"], "purpose": "user_management", "operation": "view"},
                actor=actor,
            )
        )
        for n in range(number)
    ]
    return (costs, number / elapsed, cpu, waits), sample


Result = tuple[list[float], float, float, float]
"""Per-call us, events/s, process CPU us per event, caller GIL waits per 1,000 events."""


def run_paced(bootstrap: str, topic: str, number: int, rate: float, spool: Path) -> list[float]:
    """Per-call microseconds when the service calls at ``rate`` events/s, not flat out.

    A service does its own work between audit calls (here: sleeps, which release the GIL as
    a request's I/O would). Measured: the tail is worse than flat out, not better (cold
    caches after each sleep, and the background threads still wake mid-call).
    """
    audit = warm_client(bootstrap, topic, spool)
    actor = staff("agent-7")
    costs: list[float] = []
    interval = 1 / rate
    started = time.perf_counter()
    for n in range(number):
        ahead = started + n * interval - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        costs.append(timed_call(audit, n, actor))
    flushed = audit.flush(120)
    audit.close()
    if not flushed:
        raise SystemExit("the SDK did not deliver the paced events within 120 s")
    return costs


def run_bare(bootstrap: str, topic: str, records: list[tuple[Any, Any]]) -> Result:
    producer = build_producer(bootstrap)  # the same settings: acks=all, idempotence, linger
    producer.send(topic, value=records[0][1], key=records[0][0]).get(timeout=30)
    costs: list[float] = []
    clock = time.perf_counter_ns
    waits0 = gil_waits()
    cpu0 = time.process_time()
    started = time.perf_counter()
    for key, value in records:
        t0 = clock()
        producer.send(topic, value=value, key=key)
        costs.append((clock() - t0) / 1000)
    waits = (gil_waits() - waits0) / len(records) * 1000
    producer.flush(timeout=300)
    elapsed = time.perf_counter() - started
    cpu = (time.process_time() - cpu0) / len(records) * 1e6
    producer.close()
    return costs, len(records) / elapsed, cpu, waits


def report(number: int, sdk: Result, bare: Result) -> None:
    (sdk_costs, sdk_rate, sdk_cpu, sdk_waits) = sdk
    (bare_costs, bare_rate, bare_cpu, bare_waits) = bare
    rows = [
        ("caller median (us)", statistics.median(sdk_costs), statistics.median(bare_costs)),
        ("caller p99 (us)", pct(sdk_costs, 0.99), pct(bare_costs, 0.99)),
        ("caller p99.9 (us)", pct(sdk_costs, 0.999), pct(bare_costs, 0.999)),
        ("sustained events/s", sdk_rate, bare_rate),
        ("process CPU us/event", sdk_cpu, bare_cpu),
        ("caller GIL waits/1k", sdk_waits, bare_waits),
    ]
    print(f"SDK vs bare kafka-python, {number} events, 4 partitions, acks=all, idempotent")
    print(f"{'':22}{'SDK':>12}{'bare':>12}{'SDK/bare':>10}")
    for name, a, b in rows:
        print(f"{name:22}{a:12.1f}{b:12.1f}{a / b if b else float('nan'):10.2f}")
    print(
        f"targets: caller median and p99 < 50 us -> "
        f"{'met' if pct(sdk_costs, 0.99) < 50 else 'p99 NOT met'}"
        f" (median {'met' if statistics.median(sdk_costs) < 50 else 'NOT met'}); "
        f">= 20000 events/s -> {'met' if sdk_rate >= 20_000 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument(
        "--paced-rate", type=float, default=5_000, help="events/s of the paced caller run"
    )
    parser.add_argument("--paced-number", type=int, default=25_000)
    args = parser.parse_args()
    with local_kafka() if args.bootstrap is None else _given(args.bootstrap) as bootstrap:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            with tempfile.TemporaryDirectory(prefix="bench-sdk-spool-") as spool:
                sdk, records = run_sdk(bootstrap, new_topic(admin), args.number, Path(spool))
            bare = run_bare(bootstrap, new_topic(admin), records)
            with tempfile.TemporaryDirectory(prefix="bench-sdk-spool-") as spool:
                paced = run_paced(
                    bootstrap, new_topic(admin), args.paced_number, args.paced_rate, Path(spool)
                )
        finally:
            admin.close()
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report(args.number, sdk, bare)
    print(
        f"paced caller at {args.paced_rate:,.0f} events/s ({args.paced_number} events): "
        f"median {statistics.median(paced):.1f} us, p99 {pct(paced, 0.99):.1f} us, "
        f"p99.9 {pct(paced, 0.999):.1f} us"
    )


@contextmanager
def _given(bootstrap: str) -> Iterator[str]:
    yield bootstrap


if __name__ == "__main__":
    main()
