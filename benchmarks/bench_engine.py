"""Benchmark: the rule engine alone, on already-decoded events (issue 3, "Done when").

Generates a realistic mix over many subjects (default 100k subjects, 300k events over a
year, so deadlines fire), decodes it once, then times:

* a bare baseline: a loop doing one dict lookup per event, and
* ``Engine.process`` on every event, then ``advance`` to the last instant,

in the same run, and prints events/s and the ratio. A separate pass under tracemalloc
prints the memory the engine holds per subject. Run on one core:

    taskset -c 0 /tmp/pv/bin/python benchmarks/bench_engine.py [--events N] [--subjects N]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from fixtures.mixgen import mixed_events  # noqa: E402

from privtrail.engine import Engine  # noqa: E402
from privtrail.events import parse_event  # noqa: E402
from privtrail.policy import default_policy  # noqa: E402

TARGET = 100_000  # events/s on one core


# CPU time of this process, not wall time: the machine is shared, and "events/s on one
# core" is about the work this process does. Wall time is printed alongside.
clock = time.process_time


def baseline(events: list[Any]) -> float:
    table: dict[str, int] = {}
    started = clock()
    for e in events:
        key = e.subject_id
        if key is not None:
            table[key] = table.get(key, 0) + 1
    return clock() - started


def run_engine(events: list[Any]) -> tuple[float, float, Engine, int]:
    engine = Engine(default_policy())
    alerts = 0
    process = engine.process
    wall, started = time.perf_counter(), clock()
    for e in events:
        alerts += len(process(e))
    alerts += len(engine.advance(events[-1].occurred_at))
    return clock() - started, time.perf_counter() - wall, engine, alerts


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of containers and objects reachable from ``obj``; strings are shared with
    events and the policy, so they are not counted."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, str):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        size += sum(deep_size(x, seen) for x in obj)
    elif hasattr(obj, "__slots__"):
        size += sum(deep_size(getattr(obj, s), seen) for s in obj.__slots__ if hasattr(obj, s))
    return size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--sloppiness",
        type=float,
        default=0.1,
        help="how often services deviate from the policy (1.0 = test mix)",
    )
    args = ap.parse_args()

    span = 365 * 86400 / args.events  # mean gap so the run covers about a year
    t0 = time.perf_counter()
    events = [
        parse_event(d)
        for d in mixed_events(
            42,
            args.events,
            args.subjects,
            step_seconds=span,
            noise=0.001,
            sloppiness=args.sloppiness,
        )
    ]
    print(
        f"generated and decoded {len(events):,} events over {args.subjects:,} subjects "
        f"in {time.perf_counter() - t0:.1f} s (not timed below)"
    )

    gc.collect()
    gc.freeze()  # the decoded events are long-lived; keep the collector off them
    base = min(baseline(events) for _ in range(args.repeat))
    best = best_wall = float("inf")
    engine: Engine | None = None
    alerts = 0
    for _ in range(args.repeat):
        engine = None
        gc.collect()
        elapsed, wall, engine, alerts = run_engine(events)
        best, best_wall = min(best, elapsed), min(best_wall, wall)
    assert engine is not None
    rate, base_rate = len(events) / best, len(events) / base
    print(f"baseline (dict lookup per event): {base_rate:,.0f} events/s (CPU time)")
    print(
        f"engine:                           {rate:,.0f} events/s (CPU time, "
        f"{best:.2f} s, best of {args.repeat}); wall {len(events) / best_wall:,.0f}/s "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(f"ratio engine/baseline time:       {best / base:.1f}x")
    print(f"target {TARGET:,} events/s:            {'met' if rate >= TARGET else 'NOT met'}")
    print(
        f"alerts raised: {alerts:,} ({alerts / len(events):.1%} of events); "
        f"subjects {engine.stats.subjects:,}, actors {engine.stats.actors:,}"
    )
    print("by rule:", dict(engine.stats.by_rule.most_common()))

    subjects = engine.subjects
    per_subject = deep_size(list(subjects.values())) / max(len(subjects), 1)
    del engine, subjects
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _, _, engine, _ = run_engine(events)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    n = max(engine.stats.subjects, 1)
    print(
        f"memory held by the engine (tracemalloc): {held / 2**20:.1f} MiB = "
        f"{held / n:,.0f} bytes per subject (incl. event-id dedupe set and deadline heap)"
    )
    print(f"memory of SubjectState objects alone:    {per_subject:,.0f} bytes per subject")


if __name__ == "__main__":
    main()
