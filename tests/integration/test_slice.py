"""The thin slice across the real pipeline (issue 2, section 5).

A ``used`` event for a purpose the subject's data was not collected for goes through the SDK
into the real Apache Kafka broker; the Faust worker (a child process) raises an alert on the
alerts topic; the sink (a child process) lands both the event and the alert in the real
ClickHouse server, and both are read back over HTTP with clickhouse-connect.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from privtrail.config import Topics
from privtrail.stack import Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _wait(
    what: str, probe: Any, timeout: float, children: list[subprocess.Popen[bytes]], logs: Path
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                pytest.fail(
                    f"{child.args} exited with {child.returncode} while waiting for "
                    f"{what}; logs in {logs}"
                )
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    tails = "\n".join(p.read_text()[-3000:] for p in sorted(logs.glob("*.log")))
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


@pytest.fixture
def pipeline(stack: Stack, ch_admin: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Worker and sink as child processes on topics and groups of their own."""
    from privtrail.sinks.migrate import migrate
    from privtrail.streams.settings import WorkerSettings
    from privtrail.streams.topics import ensure_topics

    migrate(ch_admin)
    run = uuid.uuid4().hex[:8]
    topics = Topics(
        events=f"slice-{run}.events",
        valid=f"slice-{run}.valid",
        dlq=f"slice-{run}.dlq",
        alerts=f"slice-{run}.alerts",
    )
    env = {
        **os.environ,
        "PRIVTRAIL_HOME": str(tmp_path / "home"),
        "PRIVTRAIL_BOOTSTRAP_SERVERS": stack.kafka.bootstrap,
        "PRIVTRAIL_CLICKHOUSE_URL": stack.clickhouse.http_url,
        "PRIVTRAIL_TOPIC_EVENTS": topics.events,
        "PRIVTRAIL_TOPIC_VALID": topics.valid,
        "PRIVTRAIL_TOPIC_DLQ": topics.dlq,
        "PRIVTRAIL_TOPIC_ALERTS": topics.alerts,
        "PRIVTRAIL_WORKER_APP_ID": f"slice-worker-{run}",
        "PRIVTRAIL_SINK_GROUP": f"slice-sink-{run}",
        "PRIVTRAIL_SINK_BATCH_SECONDS": "0.2",
    }
    # Topics up front with the worker's partition counts, before the SDK could auto-create.
    ensure_topics(WorkerSettings.from_env(env))
    logs = tmp_path / "logs"
    logs.mkdir()
    children = []
    for name in ("worker", "sink"):
        out = (logs / f"{name}.log").open("wb")
        children.append(
            subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "privtrail.cli.main", name],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        yield {"topics": topics, "children": children, "logs": logs, "env": env}
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


def test_purpose_violation_crosses_the_whole_pipeline(
    stack: Stack, ch_investigator: Any, pipeline: dict[str, Any], tmp_path: Path
) -> None:
    from kafka import KafkaConsumer

    from privtrail.sdk import AuditClient, staff
    from privtrail.wire import decode_alert

    topics: Topics = pipeline["topics"]
    with AuditClient(
        bootstrap=stack.kafka.bootstrap,
        service="billing",
        topic=topics.events,
        dev_mode=True,
        spool_dir=tmp_path / "spool",
    ) as audit:
        subject = audit.pseudonym("customer-ref-0001")
        collected_id = audit.collected(
            "customer-ref-0001",
            items=["email", "phone"],
            context="tech_support",
            method="inquiry_board",
            purposes=["user_management"],
        )
        # Collected for user management; used for service-improvement statistics.
        used_id = audit.used(
            "customer-ref-0001",
            items=["email"],
            purpose="service_improvement",
            operation="process",
            actor=staff("agent-7"),
        )
        assert audit.flush(30)

    # 1. The worker raised the alert on the alerts topic.
    consumer = KafkaConsumer(
        topics.alerts,
        bootstrap_servers=stack.kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    seen: list[Any] = []

    def alert_on_topic() -> Any:
        seen.extend(decode_alert(m.value) for m in consumer)
        return [a for a in seen if a.rule == "PURPOSE_VIOLATION" and a.event_id == used_id]

    found = _wait(
        "the alert on the alerts topic", alert_on_topic, 120, pipeline["children"], pipeline["logs"]
    )
    consumer.close()
    assert found[0].subject_id == subject
    assert found[0].evidence["purpose"] == "service_improvement"
    assert not [a for a in seen if a.event_id == collected_id]

    # 2. The sink landed both events and the alert; read back over HTTP as the investigator.
    def landed() -> Any:
        events = ch_investigator.query(
            "SELECT event_id, type, purpose, leaf_index FROM privtrail.events "
            "WHERE subject_id = {s:String} AND log_topic = {t:String} ORDER BY occurred_at",
            parameters={"s": subject, "t": topics.valid},
        ).result_rows
        alerts = ch_investigator.query(
            "SELECT rule, event_id, subject_id FROM privtrail.alerts WHERE event_id = {e:String}",
            parameters={"e": used_id},
        ).result_rows
        return (events, alerts) if len(events) == 2 and alerts else None

    events, alerts = _wait(
        "the event and the alert in ClickHouse", landed, 120, pipeline["children"], pipeline["logs"]
    )
    assert [(e[0], e[1]) for e in events] == [(collected_id, "collected"), (used_id, "used")]
    assert events[1][2] == "service_improvement"
    assert ("PURPOSE_VIOLATION", used_id, subject) in alerts
