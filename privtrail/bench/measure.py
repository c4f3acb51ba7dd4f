"""CPU and resident memory per process (from /proc, Linux only, no dependency) and
latency percentiles.

CPU is the process's own user + system time over a window of wall time, so 100 % is one
full core; on this 2-core machine the sum over all processes cannot pass 200 %. RSS is
sampled and its maximum over the window kept. Only the process itself is counted, not
its children: each process the benchmark cares about is named separately (a producer's
SDK shipper as "producer-N shipper").
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (Linux /proc; [] when it is gone)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return sorted(out)


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """One process over one window: mean CPU (% of one core), CPU seconds and peak RSS."""

    cpu_percent: float
    rss_max_mib: float
    cpu_seconds: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "cpu_percent": round(self.cpu_percent, 1),
            "rss_max_mib": round(self.rss_max_mib, 1),
            "cpu_seconds": round(self.cpu_seconds, 2),
        }


class UsageSampler:
    """Samples named processes in a background thread between ``start()`` and ``stop()``.

    ``pids`` maps a display name (``broker``, ``worker-1``) to a pid; names can be added
    while running (``add``), e.g. producers that start after the sampler.
    """

    def __init__(self, pids: Mapping[str, int], interval: float = 0.5) -> None:
        self._pids = dict(pids)
        self._interval = interval
        self._lock = threading.Lock()
        self._start_cpu: dict[str, tuple[float, float]] = {}  # name -> (cpu s, wall s)
        self._last_cpu: dict[str, tuple[float, float]] = {}
        self._rss: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, pid: int) -> None:
        with self._lock:
            self._pids[name] = pid
        self._sample_one(name, pid)

    def _sample_one(self, name: str, pid: int) -> None:
        cpu, rss, now = cpu_seconds(pid), rss_bytes(pid), time.monotonic()
        with self._lock:
            if cpu is not None:
                self._start_cpu.setdefault(name, (cpu, now))
                self._last_cpu[name] = (cpu, now)
            if rss is not None:
                self._rss[name] = max(self._rss.get(name, 0), rss)

    def _sample(self) -> None:
        with self._lock:
            pids = dict(self._pids)
        for name, pid in pids.items():
            self._sample_one(name, pid)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> UsageSampler:
        self._sample()
        self._thread = threading.Thread(target=self._run, name="usage-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, ProcessUsage]:
        """Stop sampling; usage per name over the window each process was seen in."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        out: dict[str, ProcessUsage] = {}
        with self._lock:
            for name, (cpu0, t0) in self._start_cpu.items():
                cpu1, t1 = self._last_cpu[name]
                pct = 100.0 * (cpu1 - cpu0) / (t1 - t0) if t1 > t0 else 0.0
                out[name] = ProcessUsage(pct, self._rss.get(name, 0) / 2**20, cpu1 - cpu0)
        return out


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest-rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds, and the sample count."""
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
        "p99_ms": round(percentile(seconds, 99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1) if seconds else math.nan,
    }


def sustained_rate(
    samples: Sequence[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9
) -> float:
    """Rows per second while the count went from ``low`` to ``high`` of ``total``.

    ``samples`` are (monotonic time, rows landed so far). The first and last stretches are
    left out: start-up (consumer group joins, first batch) and the tail are not the rate
    the pipeline sustains. NaN when the count never reached ``high * total``.
    """
    lo_target, hi_target = low * total, high * total
    t_lo = next(((t, n) for t, n in samples if n >= lo_target), None)
    t_hi = next(((t, n) for t, n in samples if n >= hi_target), None)
    if t_lo is None or t_hi is None or t_hi[0] <= t_lo[0]:
        return math.nan
    return (t_hi[1] - t_lo[1]) / (t_hi[0] - t_lo[0])
