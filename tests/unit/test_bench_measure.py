"""CPU/RSS from /proc, percentiles and the sustained-rate window."""

from __future__ import annotations

import math
import os
import threading
import time

import pytest

from privtrail.bench.measure import (
    UsageSampler,
    child_pids,
    cpu_seconds,
    latency_summary,
    percentile,
    rss_bytes,
    sustained_rate,
)

pytestmark = pytest.mark.unit


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


def test_latency_summary_in_milliseconds() -> None:
    s = latency_summary([0.1, 0.2, 0.3, 2.0])
    assert s == {"n": 4, "p50_ms": 200.0, "p99_ms": 2000.0, "max_ms": 2000.0}
    assert latency_summary([])["n"] == 0


def test_sustained_rate_leaves_out_start_and_tail() -> None:
    # 10 s of start-up at 0, then 100 rows/s, then a slow tail.
    samples = [(float(t), 0) for t in range(10)]
    samples += [(10.0 + t, 100 * t) for t in range(1, 11)]
    samples += [(21.0, 1000)]
    assert sustained_rate(samples, 1000) == pytest.approx(100.0)
    assert math.isnan(sustained_rate(samples[:12], 1000))  # never reached 90 %


def test_proc_readings_of_this_process() -> None:
    assert (cpu_seconds(os.getpid()) or 0) > 0
    assert (rss_bytes(os.getpid()) or 0) > 10 * 2**20
    assert cpu_seconds(2**22 + 12345) is None  # beyond pid_max: no such process
    assert rss_bytes(2**22 + 12345) is None


def test_child_pids_lists_live_children_only() -> None:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in child_pids(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert child.pid not in child_pids(os.getpid())
    assert child_pids(2**22 + 12345) == []


def test_sampler_sees_a_busy_process() -> None:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    sampler = UsageSampler({"me": os.getpid()}, interval=0.05).start()
    worker = threading.Thread(target=spin)
    worker.start()
    time.sleep(0.5)
    stop.set()
    worker.join()
    usage = sampler.stop()["me"]
    assert usage.cpu_percent > 5
    assert usage.cpu_seconds > 0.02
    assert usage.rss_max_mib > 10
