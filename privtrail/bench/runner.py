"""One benchmark run, phase by phase (``privtrail bench`` renders what this returns).

1. prepare: the stack (started if down), migrations, run-unique topics, the workload and
   the alerts the Engine expects from it (the same Engine ``privtrail check`` uses);
2. baselines: raw producer, raw consume-produce loop, raw ClickHouse insert, before any
   pipeline process runs, so they do not compete with it;
3. pipeline up: worker(s) and sink(s); the staff authorisations go first and must land in
   ClickHouse before the load, which also proves every process is ready;
4. throughput: the producers send their shards flat out; the rate is rows landed per second
   in ``privtrail.events`` for the run's topic;
5. latency: the producers send the rest at a fixed offered load (default 2,000 events/s);
   send -> alert on the alerts topic and send -> queryable in ClickHouse, per tracked event;
6. check: every expected alert landed, none unexpected, duplicates counted.

CPU and RSS of every process are sampled during phases 4 and 5.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from privtrail.bench.measure import UsageSampler, latency_summary, sustained_rate
from privtrail.bench.pipeline import Children, ProducerJob, ProducerResult, Producers, RunNames
from privtrail.bench.workload import WorkItem, WorkloadConfig, all_items, setup_events
from privtrail.config import privtrail_home
from privtrail.errors import PrivtrailError

Progress = Callable[[str, float, float], None]  # (phase, done, total)
PROBE_EVERY = 10  # besides every alerting event, each 10th event is timed to queryable

# Offered load above this share of the measured capacity counts as saturating (a queue grows).
_NEAR_CAPACITY = 0.8


class BenchError(PrivtrailError):
    """The benchmark could not run to the end (a process died, a phase timed out)."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    events: int = 30_000  # throughput phase
    rate: float = 2_000.0  # offered load of the latency phase, events/s
    latency_seconds: float = 15.0
    producers: int = 2
    subjects: int = 10_000
    actors: int = 50
    violation_rate: float = 0.02
    workers: int = 1
    sinks: int = 1
    partitions: int = 4
    seed: int = 1
    baseline_events: int = 30_000
    timeout: float = 300.0  # per phase
    keep_stack: bool = False

    @classmethod
    def quick(cls, **overrides: Any) -> BenchOptions:
        """A few seconds of load: for development on a shared machine, not for numbers."""
        base = {
            "events": 4_000,
            "latency_seconds": 4.0,
            "subjects": 2_000,
            "baseline_events": 4_000,
        }
        return cls(**{**base, **overrides})


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


class _Run:
    def __init__(self, opts: BenchOptions, progress: Progress | None) -> None:
        self.o = opts
        self.progress = progress or (lambda phase, done, total: None)
        self.run = uuid.uuid4().hex[:8]
        self.names = RunNames(self.run)
        self.work = privtrail_home() / "bench" / self.run
        self.result: dict[str, Any] = {"run": self.run, "options": asdict(opts)}
        self.n_tp = _round_up(opts.events, opts.producers)
        self.n_lat = _round_up(int(opts.rate * opts.latency_seconds), opts.producers)

    # -- 1. prepare -------------------------------------------------------------------------
    def prepare(self) -> None:
        from privtrail.engine import Engine
        from privtrail.events import parse_event
        from privtrail.policy import default_policy

        o = self.o
        self.progress("generating the workload", 0, 1)
        self.workload = WorkloadConfig(
            # Twice the latency phase: a second phase may run below the measured capacity.
            events=self.n_tp + 2 * self.n_lat,
            subjects=o.subjects,
            actors=o.actors,
            violation_rate=o.violation_rate,
            seed=o.seed,
            prefix=f"b{self.run}",
        )
        self.setup = setup_events(self.workload)
        self.items: list[WorkItem] = all_items(self.workload, o.producers)
        engine = Engine(default_policy())
        self.events = []
        self.expected: dict[str, str] = {}  # alert_id -> event_id (no deadline fires here)
        self.alerting: set[str] = set()  # event ids that raise at least one alert
        self.rule_of: dict[str, str] = {}  # alerting event id -> its first alert's rule
        for form in self.setup:
            engine.process(parse_event(form))
        for i, item in enumerate(self.items):
            event = parse_event(item.event)
            self.events.append(event)
            for alert in engine.process(event):
                self.expected[alert.alert_id] = alert.event_id
                self.alerting.add(alert.event_id)
                self.rule_of.setdefault(alert.event_id, alert.rule)
            if i % 2000 == 0:
                self.progress("generating the workload", i, len(self.items))
        self.sent_ids: set[str] = {f["event_id"] for f in self.setup}
        self.next_slot = 0  # per shard: the first event not sent yet
        self.result["workload"] = {
            "throughput_events": self.n_tp,
            "latency_events_per_phase_max": self.n_lat,
            "setup_events": len(self.setup),
            "subjects": o.subjects,
            "actors": o.actors,
            "violation_rate": o.violation_rate,
            "by_type": _count(w.event["type"] for w in self.items),
            "by_rule": engine.stats.to_dict()["by_rule"],
            "alerts_per_event": round(len(self.expected) / max(1, len(self.items)), 4),
            "bulk_access_possible": self.workload.bulk_access_possible,
        }

    def connect(self) -> None:
        from privtrail.sinks.migrate import migrate
        from privtrail.sinks.settings import SinkSettings, connect, load_signer
        from privtrail.stack import Stack
        from privtrail.streams.settings import WorkerSettings
        from privtrail.streams.topics import ensure_topics

        self.stack = Stack.from_env()
        status = self.stack.status()
        self.started_stack = not status.up
        if self.started_stack:
            self.progress("starting the local stack", 0, 1)
            status = self.stack.up()
        self.status = status
        self.env = self.names.env(
            bootstrap=status.kafka_bootstrap,
            clickhouse_url=status.clickhouse_http,
            home=privtrail_home(),
            partitions=self.o.partitions,
        )
        settings = SinkSettings.from_env(self.env)
        self.admin = connect(settings, "admin")
        migrate(self.admin)
        load_signer(settings)  # once, here: sinks started together would race to create it
        self.investigator = connect(settings, "investigator")
        self.watch_client = connect(settings, "investigator")
        ensure_topics(WorkerSettings.from_env(self.env))

    # -- 2. baselines -------------------------------------------------------------------------
    def baselines(self) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        from privtrail.bench.baselines import (
            raw_clickhouse_insert,
            raw_consume_produce,
            raw_producer,
        )
        from privtrail.sdk.builder import kafka_key
        from privtrail.wire import encode_event

        events = self.events[: self.o.baseline_events]
        records = [(kafka_key(e), encode_event(e)) for e in events]
        self.result["workload"]["avro_bytes_per_event"] = round(
            sum(len(v) for _, v in records) / max(1, len(records)), 1
        )
        raw_in, raw_out = f"bench-{self.run}.raw-in", f"bench-{self.run}.raw-out"
        admin = KafkaAdminClient(bootstrap_servers=self.status.kafka_bootstrap)
        try:
            admin.create_topics([NewTopic(t, self.o.partitions, 1) for t in (raw_in, raw_out)])
            self.progress("baseline: raw producer", 0, 3)
            results = [raw_producer(self.status.kafka_bootstrap, raw_in, records)]
            self.progress("baseline: raw consume-produce", 1, 3)
            results.append(
                raw_consume_produce(
                    self.status.kafka_bootstrap,
                    raw_in,
                    raw_out,
                    len(records) + 1,
                    timeout=self.o.timeout,
                )
            )
            self.progress("baseline: raw ClickHouse insert", 2, 3)
            results.append(raw_clickhouse_insert(self.admin, events, self.run))
        finally:
            try:
                admin.delete_topics([raw_in, raw_out])
            finally:
                admin.close()
        self.result["baselines"] = {r.name: r.to_dict() for r in results}

    # -- 3. pipeline up -------------------------------------------------------------------------
    def start_pipeline(self) -> None:
        from privtrail.bench.watch import AlertWatcher, CommittedWatcher, LandedWatcher
        from privtrail.sdk import AuditClient

        self.children = Children(self.env, self.work / "logs")
        for i in range(self.o.workers):
            self.children.start(f"worker-{i + 1}", "worker")
        for i in range(self.o.sinks):
            self.children.start(f"sink-{i + 1}", "sink")
        topics = self.names.topics
        self.alerts = AlertWatcher(self.status.kafka_bootstrap, topics.alerts).start()
        self.landed = LandedWatcher(self.watch_client, topics.valid).start()
        self.judged = CommittedWatcher(
            self.status.kafka_bootstrap, self.names.worker_app_id, topics.events
        ).start()
        with AuditClient(
            bootstrap=self.status.kafka_bootstrap,
            service="bench-setup",
            topic=topics.events,
            dev_mode=True,
            spool_dir=self.work / "spool-setup",
        ) as audit:
            for form in self.setup:
                audit.emit_json(form)
            audit.flush(60)
        started = time.monotonic()
        self._wait(
            "pipeline start (setup events landing)",
            len(self.setup),
            started,
            lambda: self.landed.landed,
        )
        self.result["startup_seconds"] = round(time.monotonic() - started, 1)

    def _check_alive(self) -> None:
        dead = self.children.dead()
        if dead:
            raise BenchError(
                f"{', '.join(dead)} exited during the run; logs in "
                f"{self.children.logs}\n{self.children.log_tail()}"
            )

    def _wait(
        self,
        phase: str,
        target: int,
        since: float,
        value: Callable[[], int],
        extra: Callable[[], bool] = lambda: True,
    ) -> None:
        while True:
            self._check_alive()
            now = value()
            self.progress(phase, now, target)
            if now >= target and extra():
                return
            if time.monotonic() - since > self.o.timeout:
                raise BenchError(
                    f"{phase}: timed out after {self.o.timeout:.0f}s at "
                    f"{now}/{target}; logs in {self.children.logs}\n"
                    f"{self.children.log_tail()}"
                )
            time.sleep(0.25)

    # -- 4./5. producing ------------------------------------------------------------------------
    def _produce(
        self,
        phase: str,
        begin: int,
        end: int,
        rate: float,
        landed_target: int,
        extra: Callable[[], bool] = lambda: True,
    ) -> tuple[list[ProducerResult], dict[str, Any], float]:
        p = self.o.producers
        jobs = [
            ProducerJob(
                self.status.kafka_bootstrap,
                self.names.topics.events,
                self.workload,
                s,
                p,
                begin,
                end,
                rate / p if rate else 0.0,
                str(self.work / f"spool-{phase}-{s}"),
            )
            for s in range(p)
        ]
        producers = Producers(jobs)
        try:
            self.progress(f"{phase}: starting producers", 0, 1)
            producers.wait_ready(timeout=self.o.timeout)
            pids = {
                "broker": self.status.kafka_pid or 0,
                "clickhouse": self.status.clickhouse_pid or 0,
                **{n: c.pid for n, c in self.children.procs.items()},
                **producers.pids,
                "driver": os.getpid(),
            }
            sampler = UsageSampler({k: v for k, v in pids.items() if v}).start()
            t0 = time.monotonic()
            producers.go()
            total = (end - begin) * p
            while producers.sent() < total:
                self._check_alive()
                if any(not pr.is_alive() for pr in producers.procs):
                    break  # it reports its error in results()
                self.progress(f"{phase}: sending", producers.sent(), total)
                time.sleep(0.25)
            results = producers.results(timeout=self.o.timeout)
            errors = [r.error for r in results if r.error]
            if errors:
                raise BenchError(f"{phase}: producer failed: {errors[0]}")
            self._wait(f"{phase}: landing", landed_target, t0, lambda: self.landed.landed, extra)
            landed_at = time.monotonic()
            usage = {n: u.to_dict() for n, u in sampler.stop().items()}
            return results, usage, landed_at
        finally:
            producers.terminate()

    def throughput(self) -> None:
        base = len(self.setup)
        per = self.n_tp // self.o.producers
        # The phase ends when every event is queryable *and* judged by the enforce agent.
        results, usage, _ = self._produce(
            "throughput",
            0,
            per,
            0.0,
            base + self.n_tp,
            lambda: self.judged.committed >= base + self.n_tp,
        )
        self.next_slot = per
        self.sent_ids |= {k for r in results for k in r.send_times}
        samples = [(t, n - base) for t, n in self.landed.samples if n >= base]
        sustained = sustained_rate(samples, self.n_tp)
        judged = [(t, n - base) for t, n in self.judged.samples if n >= base]
        enforced = sustained_rate(judged, self.n_tp)
        sent_from = min(r.started for r in results)
        sent_to = max(r.finished for r in results)
        first = next((t for t, n in samples if n > 0), None)
        last = next((t for t, n in samples if n >= self.n_tp), None)
        self.result["throughput"] = {
            "events": self.n_tp,
            "sustained_eps": round(sustained, 1),
            # Events/s the worker judged (its group's commits on the events topic).
            "enforced_sustained_eps": round(enforced, 1),
            "first_to_last_row_eps": round(self.n_tp / (last - first), 1)
            if first is not None and last is not None and last > first
            else None,
            "producer_send_eps": round(self.n_tp / (sent_to - sent_from), 1),
            # CPU per event of each process: events/s one core sustains = 1e6 / this.
            "cpu_us_per_event": {
                n: round(u["cpu_seconds"] * 1e6 / self.n_tp, 1) for n, u in usage.items()
            },
            "target_eps": 10_000,
            "processes": usage,
        }

    def latency(self, phase: str, rate: float) -> None:
        """Send ``rate * latency_seconds`` events at ``rate``; time each tracked one."""
        p = self.o.producers
        per = max(1, int(rate * self.o.latency_seconds) // p)
        begin, end = self.next_slot, self.next_slot + per
        ids = {w.event["event_id"] for w in self.items if begin <= w.index // p < end}
        alerting = self.alerting & ids
        probes = {
            w.event["event_id"]
            for w in self.items
            if w.event["event_id"] in ids and w.index % PROBE_EVERY == 0
        }
        self.landed.track(probes | alerting)

        def drained() -> bool:
            first, _ = self.alerts.snapshot()
            return self.landed.pending == 0 and alerting <= first.keys()

        target = len(self.sent_ids) + per * p
        results, usage, _ = self._produce(phase, begin, end, rate, target, drained)
        self.next_slot = end
        sent = {k: v for r in results for k, v in r.send_times.items()}
        self.sent_ids |= sent.keys()
        first_alert, _ = self.alerts.snapshot()
        alert_lat = [first_alert[e] - sent[e] for e in alerting if e in first_alert]
        by_rule: dict[str, list[float]] = {}
        for e in alerting & first_alert.keys():
            by_rule.setdefault(self.rule_of[e], []).append(first_alert[e] - sent[e])
        query_lat = [
            self.landed.queryable[e] - sent[e]
            for e in probes | alerting
            if e in self.landed.queryable
        ]
        sent_from = min(r.started for r in results)
        sent_to = max(r.finished for r in results)
        tp = self.result.get("throughput", {})
        capacity = min(
            tp.get("sustained_eps", math.inf), tp.get("enforced_sustained_eps", math.inf)
        )
        self.result[phase] = {
            "offered_eps": round(rate, 1),
            "achieved_send_eps": round(per * p / (sent_to - sent_from), 1),
            "events": per * p,
            # Above the measured capacity a backlog builds, and latency measures the queue.
            "above_measured_capacity": bool(capacity and rate > capacity),
            "near_measured_capacity": bool(capacity and rate > _NEAR_CAPACITY * capacity),
            "send_to_alert": latency_summary(alert_lat),
            # UNAUTHORIZED_HANDLER comes from the actors agent (one more hop), the rest
            # from enforce: a difference here says which side lags.
            "send_to_alert_by_rule": {r: latency_summary(v) for r, v in sorted(by_rule.items())},
            "send_to_queryable": latency_summary(query_lat),
            "queryable_poll_interval_ms": int(self.landed.interval * 1000),
            "targets_ms": {"alert_p99": 1000, "queryable_p99": 5000},
            "processes": usage,
        }

    # -- 6. check ---------------------------------------------------------------------------
    def check(self) -> None:
        topics = self.names.topics
        expected = {a for a, e in self.expected.items() if e in self.sent_ids}
        deadline = time.monotonic() + 60
        while True:
            rows = self.investigator.query(
                "SELECT alert_id, count() FROM privtrail.alerts WHERE kafka_topic = {t:String} "
                "GROUP BY alert_id",
                parameters={"t": topics.alerts},
            ).result_rows
            landed = {r[0]: int(r[1]) for r in rows}
            if expected <= landed.keys() or time.monotonic() > deadline:
                break
            self.progress("checking alerts", len(landed), len(expected))
            time.sleep(1.0)
        ev = self.investigator.query(
            "SELECT count(), uniqExact(event_id) FROM privtrail.events WHERE log_topic = "
            "{t:String}",
            parameters={"t": topics.valid},
        ).result_rows[0]
        _, copies = self.alerts.snapshot()
        self.result["correctness"] = {
            "expected_alerts": len(expected),
            "alert_ids_in_clickhouse": len(landed),
            "missing_alerts": len(expected - landed.keys()),
            "unexpected_alerts": len(landed.keys() - expected),
            "duplicate_alert_rows": sum(n - 1 for n in landed.values()),
            "duplicate_alerts_on_topic": sum(n - 1 for n in copies.values()),
            "event_rows": int(ev[0]),
            "distinct_event_ids": int(ev[1]),
            "events_sent": len(self.sent_ids),
        }

    def close(self) -> None:
        for name in ("alerts", "landed", "judged"):
            watcher = getattr(self, name, None)
            if watcher is not None:
                watcher.stop()
        children = getattr(self, "children", None)
        if children is not None:
            children.stop()
        if getattr(self, "started_stack", False) and not self.o.keep_stack:
            self.stack.down()


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def machine() -> dict[str, Any]:
    """What the numbers were measured on (the machine is shared: load average included)."""
    import platform

    mem = 0
    model = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_bench(opts: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Run every phase; the result is what ``report`` renders and writes as JSON."""
    run = _Run(opts, progress)
    run.result["machine_at_start"] = machine()
    run.result["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        run.prepare()
        run.connect()
        run.baselines()
        run.start_pipeline()
        run.throughput()
        run.latency("latency", opts.rate)
        tp = run.result["throughput"]
        # The pipeline's capacity is its slower side: rows landing, or events judged.
        capacity = min(tp["sustained_eps"], tp["enforced_sustained_eps"])
        if capacity == capacity and opts.rate > _NEAR_CAPACITY * capacity:  # not NaN
            # The target load (nearly) saturates this machine: a queue builds well before
            # 100 % (at 96 % it grew for the whole phase). Measure again at half capacity, so
            # the latency of an unsaturated pipeline is known too.
            run.latency("latency_below_capacity", 0.5 * capacity)
        run.check()
    finally:
        run.close()
    run.result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run.result["logs"] = str(run.children.logs)
    return run.result
