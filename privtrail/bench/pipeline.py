"""The processes of a benchmark run: worker(s) and sink(s) as child processes on topics and
groups of their own, and producer processes that send the workload through the SDK.

Workers share one app id (one consumer group) and sinks one sink group, so N of each split
the partitions the way a deployment would. Producers are ``spawn``ed (the driver runs
threads; forking it would copy their locks) and each sends one shard of subjects, so every
subject's events leave one process in order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtrail.bench.measure import child_pids
from privtrail.bench.workload import WorkloadConfig, shard_items
from privtrail.config import Topics


@dataclass(frozen=True, slots=True)
class RunNames:
    """Run-unique topic and group names: a run never reads another run's records."""

    run: str

    @property
    def topics(self) -> Topics:
        r = self.run
        return Topics(
            events=f"bench-{r}.events",
            valid=f"bench-{r}.valid",
            dlq=f"bench-{r}.dlq",
            alerts=f"bench-{r}.alerts",
        )

    @property
    def worker_app_id(self) -> str:
        return f"bench-{self.run}-worker"

    @property
    def sink_group(self) -> str:
        return f"bench-{self.run}-sink"

    def env(
        self,
        *,
        bootstrap: str,
        clickhouse_url: str,
        home: Path,
        partitions: int,
        base: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Environment for the worker and sink children (and ``WorkerSettings.from_env``)."""
        t = self.topics
        return {
            **(base if base is not None else dict(os.environ)),
            "PRIVTRAIL_HOME": str(home),
            "PRIVTRAIL_BOOTSTRAP_SERVERS": bootstrap,
            "PRIVTRAIL_CLICKHOUSE_URL": clickhouse_url,
            "PRIVTRAIL_TOPIC_EVENTS": t.events,
            "PRIVTRAIL_TOPIC_VALID": t.valid,
            "PRIVTRAIL_TOPIC_DLQ": t.dlq,
            "PRIVTRAIL_TOPIC_ALERTS": t.alerts,
            "PRIVTRAIL_WORKER_APP_ID": self.worker_app_id,
            "PRIVTRAIL_WORKER_PARTITIONS": str(partitions),
            "PRIVTRAIL_WORKER_LOG_LEVEL": "warning",
            "PRIVTRAIL_SINK_GROUP": self.sink_group,
        }


@dataclass
class Children:
    """Worker and sink child processes, by display name (``worker-1``, ``sink-2``)."""

    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(
        self, name: str, command: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``privtrail <command>``; its output goes to ``<logs>/<name>.log``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {**self.env, **(extra_env or {})}
        if command == "worker":  # two Faust apps must not share a data directory
            env.setdefault("PRIVTRAIL_WORKER_DATA_DIR", str(self.logs.parent / name))
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
                [sys.executable, "-m", "privtrail.cli.main", command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def dead(self) -> list[str]:
        """Names of children that exited (none should, while a run is on)."""
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def kill(self, name: str) -> None:
        """SIGKILL one child (the failover test): no shutdown, no final commit."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def log_tail(self, chars: int = 2000) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class ProducerJob:
    """One producer process: shard ``shard`` of ``shards``, its events ``[begin, end)``."""

    bootstrap: str
    topic: str
    workload: WorkloadConfig
    shard: int
    shards: int
    begin: int
    end: int
    rate: float  # events/s for this process; 0 = as fast as the SDK takes them
    spool_dir: str


@dataclass(frozen=True, slots=True)
class ProducerResult:
    shard: int
    sent: int
    started: float  # wall clock (time.time()), shared by every process on the machine
    finished: float  # after flush: the broker acknowledged every event
    send_times: dict[str, float]  # event_id -> wall clock of the SDK call
    error: str = ""


def producer_main(job: ProducerJob, go: Any, ready: Any, results: Any, sent: Any) -> None:
    """Body of a producer process: build the events, report ready, wait for ``go``, send.

    ``sent`` is a shared counter for the progress bar. Runs in a spawned process.
    """
    from privtrail.events import parse_event
    from privtrail.sdk import AuditClient

    try:
        items = shard_items(job.workload, job.shard, job.shards)[job.begin : job.end]
        events = [parse_event(w.event) for w in items]  # validated before the clock starts
        audit = AuditClient(
            bootstrap=job.bootstrap,
            service=f"bench-producer-{job.shard}",
            topic=job.topic,
            dev_mode=True,
            spool_dir=job.spool_dir,
        )
    except Exception as exc:  # reported to the driver, which fails the run with it
        ready.put(job.shard)
        results.put(ProducerResult(job.shard, 0, 0.0, 0.0, {}, f"{type(exc).__name__}: {exc}"))
        return
    ready.put(job.shard)
    go.wait()
    times: dict[str, float] = {}
    interval = 1.0 / job.rate if job.rate > 0 else 0.0
    started = time.time()
    t0 = time.perf_counter()
    try:
        for n, event in enumerate(events):
            if interval:
                ahead = t0 + n * interval - time.perf_counter()
                if ahead > 0.001:
                    time.sleep(ahead)
            times[event.event_id] = time.time()
            audit.emit(event)
            if n % 256 == 0:
                sent.value = n
        sent.value = len(events)
        audit.flush(120)
        finished = time.time()
        audit.close()
        results.put(ProducerResult(job.shard, len(events), started, finished, times))
    except Exception as exc:  # reported to the driver
        results.put(
            ProducerResult(
                job.shard, len(times), started, time.time(), times, f"{type(exc).__name__}: {exc}"
            )
        )


class Producers:
    """Spawn one producer process per job; ``go()`` releases them all at once."""

    def __init__(self, jobs: list[ProducerJob]) -> None:
        ctx = mp.get_context("spawn")
        self._go = ctx.Event()
        self._ready = ctx.Queue()
        self._results = ctx.Queue()
        self.counters = [ctx.Value("q", 0) for _ in jobs]
        self.procs = [
            ctx.Process(
                target=producer_main,
                name=f"producer-{j.shard + 1}",
                args=(j, self._go, self._ready, self._results, self.counters[i]),
            )
            for i, j in enumerate(jobs)
        ]
        for p in self.procs:
            p.start()

    @property
    def pids(self) -> dict[str, int]:
        """Each producer process, and the SDK shipper process each one started (process
        delivery; the SDK's sending happens there, so its CPU is the producer's too)."""
        out: dict[str, int] = {}
        for p in self.procs:
            if p.pid is None:
                continue
            out[p.name] = p.pid
            for k, child in enumerate(child_pids(p.pid)):
                out[f"{p.name} shipper" + (f" {k + 1}" if k else "")] = child
        return out

    def wait_ready(self, timeout: float = 300.0) -> None:
        for _ in self.procs:
            self._ready.get(timeout=timeout)

    def go(self) -> None:
        self._go.set()

    def sent(self) -> int:
        return sum(int(c.value) for c in self.counters)

    def results(self, timeout: float = 600.0) -> list[ProducerResult]:
        out = [self._results.get(timeout=timeout) for _ in self.procs]
        for p in self.procs:
            p.join(timeout=30)
        return sorted(out, key=lambda r: r.shard)

    def terminate(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
