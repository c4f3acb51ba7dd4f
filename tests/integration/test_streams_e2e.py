"""The stream worker end to end on the real Apache Kafka broker of the session stack.

The worker runs as a subprocess (``python -m privtrail.cli.main worker``) with topic
names and an app id of its own, so these tests share the broker with others safely.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastavro
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from privtrail.alerts import Alert
from privtrail.engine import Engine
from privtrail.events import parse_event
from privtrail.policy import default_policy
from privtrail.scenario import colabox_scenario
from privtrail.sdk import AuditClient
from privtrail.streams.notify import verify
from privtrail.wire import (
    decode_alert,
    decode_event_trusted,
    encode_event,
    event_to_record,
    fingerprint_of,
)
from privtrail.wire.codec import EVENT_VERSION, MAGIC

pytestmark = pytest.mark.integration

READY = "[^Worker]: Ready"
Key = tuple[str, str, str | None]


def letter_tag(n: int = 8) -> str:
    """A random tag of letters only: digits next to an id's counter could read as a phone
    number, which the contract refuses as a personal value."""
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:n])


def alert_key(alert: Alert) -> Key:
    return (alert.rule, alert.event_id, alert.evidence.get("recipient"))


@dataclass
class Names:
    """One worker's topic names and app id, unique per test run."""

    tag: str
    events_topic: str | None = None  # an existing input topic, else one named after tag

    @property
    def app_id(self) -> str:
        return f"pt-worker-{self.tag}"

    @property
    def events(self) -> str:
        return self.events_topic or f"privacy.events.{self.tag}"

    @property
    def valid(self) -> str:
        return f"privacy.events.valid.{self.tag}"

    @property
    def dlq(self) -> str:
        return f"privacy.events.dlq.{self.tag}"

    @property
    def alerts(self) -> str:
        return f"privacy.alerts.{self.tag}"


class WorkerProcess:
    """``privtrail worker`` in a subprocess, its output in a log file."""

    def __init__(
        self, bootstrap: str, names: Names, home: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.bootstrap, self.names, self.home = bootstrap, names, home
        self.env = {
            **os.environ,
            "PRIVTRAIL_HOME": str(home),
            "PRIVTRAIL_TOPIC_EVENTS": names.events,
            "PRIVTRAIL_TOPIC_VALID": names.valid,
            "PRIVTRAIL_TOPIC_DLQ": names.dlq,
            "PRIVTRAIL_TOPIC_ALERTS": names.alerts,
            **(extra_env or {}),
        }
        home.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "worker-0.log"
        self.runs = 0

    def start(self, timeout: float = 90.0) -> None:
        self.runs += 1
        self.log_path = self.home / f"worker-{self.runs}.log"
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "privtrail.cli.main",
                "worker",
                "--bootstrap",
                self.bootstrap,
                "--partitions",
                "4",
                "--app-id",
                self.names.app_id,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while READY not in self.log():
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"worker not ready after {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` now, from the beginning of each partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def read_alerts(bootstrap: str, topic: str) -> list[Alert]:
    return [decode_alert(r.value) for r in read_topic(bootstrap, topic)]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def sdk_client(bootstrap: str, topic: str, spool: Path) -> AuditClient:
    return AuditClient(
        bootstrap=bootstrap, service="colabox-replay", topic=topic, dev_mode=True, spool_dir=spool
    )


def expected_alerts(events: list[Any], now: datetime) -> set[Key]:
    """What ``privtrail check --as-of now`` raises: the same Engine, same order."""
    engine = Engine(default_policy())
    out: set[Key] = set()
    for event in sorted(events, key=lambda e: e.occurred_at):
        out |= {alert_key(a) for a in engine.process(event)}
    out |= {alert_key(a) for a in engine.advance(now)}
    return out


WEBHOOK_SECRET = "integration-test-secret"


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver: records (headers, body) of every POST, answers 204."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, webhook: str
) -> Iterator[WorkerProcess]:
    names = Names(letter_tag())
    proc = WorkerProcess(
        kafka_bootstrap,
        names,
        tmp_path_factory.mktemp("worker-home"),
        {"PRIVTRAIL_WORKER_WEBHOOKS": webhook, "PRIVTRAIL_WORKER_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    proc.start()
    yield proc
    proc.stop()


def replay_scenario(
    worker: WorkerProcess, kafka_bootstrap: str, spool: Path
) -> tuple[str, int, set[Key]]:
    """Send the COLABOX scenario through the SDK and check the worker raises exactly what
    ``privtrail check`` raises; (the event id prefix, how many events have a subject, the
    alerts)."""
    # Live, as in production: the scenario's 17 minutes ended a moment ago. (A replay of
    # old history would let the timer judge deadlines before the replayed closing events
    # arrive; see "Late events" in docs/streams.md.)
    start = datetime.now(UTC) - timedelta(minutes=18)
    prefix = f"sc{letter_tag(6)}"
    forms = colabox_scenario(start, prefix=prefix)
    with sdk_client(kafka_bootstrap, worker.names.events, spool) as client:
        for form in forms:
            client.emit_json(form)
            # Actor-side rules see events in arrival order; keep the scenario's order.
            assert client.flush(10)
            time.sleep(0.05)
    events = [parse_event(f) for f in forms]
    expected = expected_alerts(events, max(e.occurred_at for e in events))
    assert len(expected) >= 10, "the scenario must raise alerts, or this test proves nothing"
    # Judging deadlines now instead changes nothing: no deadline is due within the test.
    assert expected == expected_alerts(events, datetime.now(UTC))

    def mine() -> set[Key]:
        return {
            alert_key(a)
            for a in read_alerts(kafka_bootstrap, worker.names.alerts)
            if a.event_id.startswith(prefix)
        }

    wait_for(lambda: mine() >= expected, 60, "the scenario's alerts")
    time.sleep(2)  # anything extra would show up by now
    assert mine() == expected
    return prefix, sum(1 for e in events if e.subject_id is not None), expected


def test_colabox_scenario_raises_what_check_raises(
    worker: WorkerProcess, kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix, _, expected = replay_scenario(worker, kafka_bootstrap, tmp_path / "spool")
    # The events topic has the tables' partition count and the SDK keys by subject, so
    # validate enforced every event in place: nothing took the repartition hop.
    hop = f"{worker.names.app_id}-subject-events"
    assert read_topic(kafka_bootstrap, hop) == []

    # notify: every alert reached the webhook once, signed, and was logged.
    def posted() -> dict[str, tuple[dict[str, str], bytes]]:
        return {
            h["X-Privtrail-Alert-Id"]: (h, b)
            for h, b in Hook.received
            if json.loads(b)["event_id"].startswith(prefix)
        }

    wait_for(lambda: len(posted()) == len(expected), 30, "the webhook deliveries")
    for aid, (headers, body) in posted().items():
        assert json.loads(body)["alert_id"] == aid
        assert verify(
            WEBHOOK_SECRET.encode(),
            headers["X-Privtrail-Timestamp"],
            body,
            headers["X-Privtrail-Signature"],
        )
        assert f"alert_id={aid}" in worker.log()


def test_events_off_their_subject_partition_take_the_repartition_hop(
    kafka_bootstrap: str, kafka_topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    """An events topic laid out unlike the tables (3 partitions for 4): every event with
    a subject goes through the subject repartition topic, with the same verdicts."""
    names = Names(letter_tag(), events_topic=kafka_topic_factory(partitions=3, prefix="ev3"))
    proc = WorkerProcess(kafka_bootstrap, names, tmp_path / "home")
    proc.start()
    try:
        prefix, with_subject, _ = replay_scenario(proc, kafka_bootstrap, tmp_path / "spool")
        hop = [
            r
            for r in read_topic(kafka_bootstrap, f"{names.app_id}-subject-events")
            if decode_event_trusted(r.value).event_id.startswith(prefix)
        ]
        assert len(hop) == with_subject
        assert "repartition hop" in proc.log()  # the worker says why, at start
    finally:
        proc.stop()


def _frame(record: dict[str, Any], fingerprint: bytes = EVENT_VERSION.fingerprint) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, EVENT_VERSION.parsed, record)
    return MAGIC + fingerprint + out.getvalue()


def test_bad_records_end_in_the_dlq_with_a_reason(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    event = parse_event(colabox_scenario(datetime.now(UTC), prefix="dlq")[1])
    good = encode_event(event)
    unknown = fingerprint_of({"type": "record", "name": "Other", "fields": []})
    broken = event_to_record(event)
    broken["subject_id"] = None  # a subject event without its subject: a contract violation
    cases = {
        b"dlq-malformed": (b"\x00not avro at all", "wire", "bad magic"),
        b"dlq-fingerprint": (MAGIC + unknown + good[10:], "wire", unknown.hex()),
        b"dlq-contract": (_frame(broken), "contract", "required for this event type"),
    }
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for key, (value, _, _) in cases.items():
        producer.send(worker.names.events, key=key, value=value)
    producer.flush()
    producer.close()

    def dead() -> dict[bytes, Any]:
        return {r.key: r for r in read_topic(kafka_bootstrap, worker.names.dlq) if r.key in cases}

    wait_for(lambda: len(dead()) == len(cases), 30, "three DLQ records")
    for key, record in dead().items():
        value, kind, reason = cases[key]
        headers = {k: v.decode() for k, v in record.headers}
        assert record.value == value  # the original bytes, untouched
        assert headers["privtrail.error.kind"] == kind
        assert reason in headers["privtrail.error.reason"]
        assert headers["privtrail.source.topic"] == worker.names.events
        assert int(headers["privtrail.source.offset"]) >= 0
    assert (
        dead()[b"dlq-contract"].headers
        and dict(dead()[b"dlq-contract"].headers)["privtrail.error.field"] == b"subject_id"
    )
    # None of them reached the valid topic.
    valid_keys = {r.key for r in read_topic(kafka_bootstrap, worker.names.valid)}
    assert not valid_keys & set(cases)


def test_deadline_fires_from_the_timer_with_no_further_event(
    worker: WorkerProcess, kafka_bootstrap: str, tmp_path: Path
) -> None:
    tag = letter_tag(6)
    subject = f"ps_deadline_{tag}"
    # P10D ran out ten minutes ago: past the worker's lateness allowance (60 s) too.
    opened = datetime.now(UTC) - timedelta(days=10, minutes=10)
    base = {
        "source": {"service": "support-desk"},
        "actor": {"kind": "subject", "id": subject},
        "subject_id": subject,
    }
    forms = [
        {
            **base,
            "event_id": f"dl-{tag}-1",
            "type": "collected",
            "context": "tech_support",
            "method": "inquiry_board",
            "items": ["email"],
            "purposes": ["user_management"],
            "occurred_at": (opened - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        {
            **base,
            "event_id": f"dl-{tag}-2",
            "type": "correction_requested",
            "request_id": f"corr-{tag}",
            "items": ["email"],
            "occurred_at": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    ]
    with sdk_client(kafka_bootstrap, worker.names.events, tmp_path / "spool") as client:
        for form in forms:
            client.emit_json(form)
        assert client.flush(10)

    def overdue() -> list[Alert]:
        return [
            a
            for a in read_alerts(kafka_bootstrap, worker.names.alerts)
            if a.rule == "CORRECTION_OVERDUE" and a.subject_id == subject
        ]

    wait_for(lambda: bool(overdue()), 30, "CORRECTION_OVERDUE from the timer")
    alert = overdue()[0]
    assert alert.event_id == f"dl-{tag}-2"  # names the event that started the clock
    assert "deadline timer:" in worker.log()
    # Met late: the correction arrives now. The alert stands, and is not raised again.
    with sdk_client(kafka_bootstrap, worker.names.events, tmp_path / "spool2") as client:
        client.emit_json(
            {
                **base,
                "event_id": f"dl-{tag}-3",
                "type": "corrected",
                "request_id": f"corr-{tag}",
                "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        assert client.flush(10)
    time.sleep(4)  # the event and several timer rounds
    assert len(overdue()) == 1
