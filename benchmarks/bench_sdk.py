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

Both SDK delivery modes are measured (``--delivery``): ``thread`` (a sender thread and
kafka-python's I/O thread in the service's process) and ``process`` (the caller appends to
the spool; a shipper process sends it; its CPU is counted in "CPU us/event").

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from prometheus_client import CollectorRegistry

from privtrail.bench.measure import cpu_seconds
from privtrail.sdk import AuditClient, DeliveryOptions, staff
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


def warm_client(bootstrap: str, topic: str, spool: Path, delivery: str) -> AuditClient:
    """An SDK client connected and past its first delivery (metadata fetched)."""
    audit = AuditClient(
        bootstrap=bootstrap,
        service="bench",
        topic=topic,
        spool_dir=spool,
        pseudonym_key=KEY,
        pseudonym_key_id="bench",
        registry=CollectorRegistry(),
        options=DeliveryOptions(delivery=delivery),  # type: ignore[arg-type]
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


def shipper_cpu(audit: AuditClient) -> float:
    """CPU seconds (user + system) of the client's shipper process so far; 0 in thread
    delivery. Linux /proc."""
    proc = getattr(audit._delivery, "_proc", None)
    return (cpu_seconds(proc.pid) or 0.0) if proc is not None else 0.0


def run_sdk(
    bootstrap: str, topic: str, number: int, spool: Path, delivery: str = "thread"
) -> tuple[Result, list[tuple[Any, Any]]]:
    """Per-call microseconds and events/s; also returns the (key, value) bytes it sent.
    The CPU per event includes the shipper process's in process delivery."""
    audit = warm_client(bootstrap, topic, spool, delivery)
    actor = staff("agent-7")
    costs: list[float] = []
    waits0 = gil_waits()
    cpu0 = time.process_time() + shipper_cpu(audit)
    started = time.perf_counter()
    for n in range(number):
        costs.append(timed_call(audit, n, actor))
    waits = (gil_waits() - waits0) / number * 1000
    flushed = audit.flush(300)
    elapsed = time.perf_counter() - started
    cpu = (time.process_time() + shipper_cpu(audit) - cpu0) / number * 1e6
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


def run_paced(
    bootstrap: str, topic: str, number: int, rate: float, spool: Path, delivery: str = "thread"
) -> list[float]:
    """Per-call microseconds when the service calls at ``rate`` events/s, not flat out.

    A service does its own work between audit calls (here: sleeps, which release the GIL as
    a request's I/O would). Measured: the tail is worse than flat out, not better (cold
    caches after each sleep, and the background threads still wake mid-call).
    """
    audit = warm_client(bootstrap, topic, spool, delivery)
    actor = staff("agent-7")
    costs = paced(number, rate, lambda n: timed_call(audit, n, actor))
    flushed = audit.flush(120)
    audit.close()
    if not flushed:
        raise SystemExit("the SDK did not deliver the paced events within 120 s")
    return costs


def paced(number: int, rate: float, timed: Callable[[int], float]) -> list[float]:
    """``timed(n)`` for n in range(number), started ``rate`` times a second."""
    costs: list[float] = []
    interval = 1 / rate
    started = time.perf_counter()
    for n in range(number):
        ahead = started + n * interval - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        costs.append(timed(n))
    return costs


def run_bare_paced(
    bootstrap: str, topic: str, records: list[tuple[Any, Any]], number: int, rate: float
) -> list[float]:
    """The bare producer's per-call microseconds at the paced rate (the same sleeps)."""
    producer = build_producer(bootstrap)
    producer.send(topic, value=records[0][1], key=records[0][0]).get(timeout=30)
    clock = time.perf_counter_ns

    def send(n: int) -> float:
        key, value = records[n % len(records)]
        t0 = clock()
        producer.send(topic, value=value, key=key)
        return (clock() - t0) / 1000

    costs = paced(number, rate, send)
    producer.flush(timeout=120)
    producer.close()
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


def report(number: int, results: dict[str, Result]) -> None:
    """One column per run; the ratio columns are each SDK run over the bare producer."""
    sdks = [name for name in results if name != "bare"]

    def rows(r: Result) -> list[float]:
        costs, rate, cpu, waits = r
        return [
            statistics.median(costs),
            pct(costs, 0.99),
            pct(costs, 0.999),
            rate,
            cpu,
            waits,
        ]

    names = [
        "caller median (us)",
        "caller p99 (us)",
        "caller p99.9 (us)",
        "sustained events/s",
        "CPU us/event (all)",
        "caller GIL waits/1k",
    ]
    table = {name: rows(r) for name, r in results.items()}
    print(f"SDK vs bare kafka-python, {number} events, 4 partitions, acks=all, idempotent")
    head = "".join(f"{n:>12}" for n in results) + "".join(f"{n + '/bare':>15}" for n in sdks)
    print(f"{'':22}{head}")
    for k, label in enumerate(names):
        line = "".join(f"{table[n][k]:12.1f}" for n in results)
        b = table["bare"][k]
        line += "".join(f"{table[n][k] / b if b else float('nan'):15.2f}" for n in sdks)
        print(f"{label:22}{line}")
    for n in sdks:
        costs, rate = results[n][0], results[n][1]
        print(
            f"targets ({n}): caller median and p99 < 50 us -> "
            f"{'met' if pct(costs, 0.99) < 50 else 'p99 NOT met'}"
            f" (median {'met' if statistics.median(costs) < 50 else 'NOT met'}); "
            f">= 20000 events/s -> {'met' if rate >= 20_000 else 'NOT met'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument(
        "--paced-rate", type=float, default=5_000, help="events/s of the paced caller run"
    )
    parser.add_argument("--paced-number", type=int, default=25_000)
    parser.add_argument(
        "--delivery",
        nargs="+",
        choices=["thread", "process"],
        default=["thread", "process"],
        help="SDK delivery modes to measure (each next to the same bare run)",
    )
    args = parser.parse_args()
    results: dict[str, Result] = {}
    paced: dict[str, list[float]] = {}
    with local_kafka() if args.bootstrap is None else _given(args.bootstrap) as bootstrap:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            for delivery in args.delivery:
                with tempfile.TemporaryDirectory(prefix="bench-sdk-spool-") as spool:
                    results[delivery], records = run_sdk(
                        bootstrap, new_topic(admin), args.number, Path(spool), delivery
                    )
            results["bare"] = run_bare(bootstrap, new_topic(admin), records)
            for delivery in args.delivery:
                with tempfile.TemporaryDirectory(prefix="bench-sdk-spool-") as spool:
                    paced[delivery] = run_paced(
                        bootstrap,
                        new_topic(admin),
                        args.paced_number,
                        args.paced_rate,
                        Path(spool),
                        delivery,
                    )
            paced["bare"] = run_bare_paced(
                bootstrap, new_topic(admin), records, args.paced_number, args.paced_rate
            )
        finally:
            admin.close()
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report(args.number, results)
    for delivery, costs in paced.items():
        print(
            f"paced caller ({delivery}) at {args.paced_rate:,.0f} events/s "
            f"({args.paced_number} events): median {statistics.median(costs):.1f} us, "
            f"p99 {pct(costs, 0.99):.1f} us, p99.9 {pct(costs, 0.999):.1f} us"
        )


@contextmanager
def _given(bootstrap: str) -> Iterator[str]:
    yield bootstrap


if __name__ == "__main__":
    main()
