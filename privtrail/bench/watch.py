"""Observers of a running pipeline, each a background thread of the driver:

- :class:`AlertWatcher` reads the run's alerts topic and records, per event id, when its
  first alert arrived (wall clock), and how many copies of each alert id it saw;
- :class:`LandedWatcher` polls ClickHouse: the number of event rows of the run's valid
  topic (throughput), and when each tracked event id first became queryable (latency).

Wall clock (``time.time()``) is what producers record at the SDK call, in other processes
of the same machine, so the differences are latencies.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any


class AlertWatcher:
    """Consumes the alerts topic from the start; no consumer group (nothing committed)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._lock = threading.Lock()
        self.first_alert: dict[str, float] = {}  # event_id -> wall clock of the first alert
        self.copies: Counter[str] = Counter()  # alert_id -> records seen on the topic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-watcher", daemon=True)
        self.error: str = ""

    def start(self) -> AlertWatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        from kafka import KafkaConsumer

        from privtrail.wire import decode_alert

        consumer = KafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        try:
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=100)
                now = time.time()
                for records in polled.values():
                    for record in records:
                        alert = decode_alert(record.value)
                        with self._lock:
                            self.first_alert.setdefault(alert.event_id, now)
                            self.copies[alert.alert_id] += 1
        except Exception as exc:  # surfaced by the driver, which reports it
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            consumer.close()

    def snapshot(self) -> tuple[dict[str, float], Counter[str]]:
        with self._lock:
            return dict(self.first_alert), Counter(self.copies)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class LandedWatcher:
    """Polls ``privtrail.events`` for the run's valid topic every ``interval`` seconds."""

    def __init__(self, client: Any, valid_topic: str, interval: float = 0.25) -> None:
        self._client = client
        self._topic = valid_topic
        self.interval = interval
        self._lock = threading.Lock()
        self.samples: list[tuple[float, int]] = []  # (monotonic, rows landed)
        self.queryable: dict[str, float] = {}  # tracked event_id -> wall clock first seen
        self._pending: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="landed-watcher", daemon=True)
        self.error: str = ""

    def start(self) -> LandedWatcher:
        self._thread.start()
        return self

    def track(self, event_ids: set[str]) -> None:
        """Record when each of ``event_ids`` first becomes queryable."""
        with self._lock:
            self._pending |= event_ids - self.queryable.keys()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    @property
    def landed(self) -> int:
        with self._lock:
            return self.samples[-1][1] if self.samples else 0

    def _poll(self) -> None:
        count = int(
            self._client.query(
                "SELECT count() FROM privtrail.events WHERE log_topic = {t:String}",
                parameters={"t": self._topic},
            ).result_rows[0][0]
        )
        with self._lock:
            self.samples.append((time.monotonic(), count))
            pending = list(self._pending)
        if not pending:
            return
        found = self._client.query(
            "SELECT event_id FROM privtrail.events WHERE log_topic = {t:String} "
            "AND event_id IN {ids:Array(String)}",
            parameters={"t": self._topic, "ids": pending},
        ).result_rows
        now = time.time()
        with self._lock:
            for (event_id,) in found:
                if event_id in self._pending:
                    self._pending.discard(event_id)
                    self.queryable[event_id] = now

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._poll()
            except Exception as exc:  # a transient HTTP error; the driver shows the last
                self.error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class CommittedWatcher:
    """Polls a consumer group's committed offsets on one topic: for the worker's group on
    the events topic, how many events it has judged (the bench lays that topic out like
    the worker's tables and the SDK keys by subject, so validate enforces every event in
    place; Faust commits an offset only after the record's output was flushed)."""

    def __init__(self, bootstrap: str, group: str, topic: str, interval: float = 0.5) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._topic = topic
        self.interval = interval
        self._lock = threading.Lock()
        self.samples: list[tuple[float, int]] = []  # (monotonic, sum of committed offsets)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="committed-watcher", daemon=True)
        self.error: str = ""

    def start(self) -> CommittedWatcher:
        self._thread.start()
        return self

    @property
    def committed(self) -> int:
        with self._lock:
            return self.samples[-1][1] if self.samples else 0

    def _run(self) -> None:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self._bootstrap)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    offsets = admin.list_group_offsets({self._group: None}).get(self._group, {})
                    total = sum(o.offset for tp, o in offsets.items() if tp.topic == self._topic)
                    with self._lock:
                        self.samples.append((time.monotonic(), total))
                except Exception as exc:  # transient (coordinator moving); the next poll retries
                    self.error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            admin.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
