"""The worker is at-least-once: a re-raised alert (same alert_id) must not be stored twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from privtrail.alerts import Alert
from privtrail.sinks.migrate import migrate
from privtrail.sinks.rows import alert_row
from privtrail.sinks.store import HistoryStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _alert(event_id: str, rule: str = "PURPOSE_VIOLATION") -> Alert:
    return Alert(
        rule=rule,
        event_id=event_id,
        subject_id="ps_dedup_subject",
        severity="high",
        message="use for an undeclared purpose",
        occurred_at=T0,
        policy_version="colabox-v1",
        actor_id="agent-7",
        evidence={"purpose": "marketing"},
    )


def _rows(alerts: list[Alert], topic: str, first_offset: int) -> list[list[Any]]:
    return [
        alert_row(
            a, topic=topic, partition=0, offset=first_offset + i, raised_at=T0, ingested_at=T0
        )
        for i, a in enumerate(alerts)
    ]


def test_a_re_raised_alert_is_stored_once(ch_admin: Any, ch_writer: Any) -> None:
    migrate(ch_admin)
    run = uuid.uuid4().hex[:8]
    topic = f"alerts-dedup-{run}"
    store = HistoryStore(ch_writer)
    first = [_alert(f"{run}-e1"), _alert(f"{run}-e2"), _alert(f"{run}-e2")]
    store.insert_alerts(_rows(first, topic, 0), f"{topic}/0/0-2")
    # After a worker crash the same alerts come again at new offsets (a new dedup token),
    # together with one alert that is really new.
    again = [_alert(f"{run}-e1"), _alert(f"{run}-e2"), _alert(f"{run}-e2", rule="NOT_COLLECTED")]
    store.insert_alerts(_rows(again, topic, 3), f"{topic}/0/3-5")
    stored = ch_writer.query(
        "SELECT rule, event_id, count() FROM privtrail.alerts WHERE kafka_topic = {t:String} "
        "GROUP BY rule, event_id ORDER BY event_id, rule",
        parameters={"t": topic},
    ).result_rows
    assert stored == [
        ("PURPOSE_VIOLATION", f"{run}-e1", 1),
        ("NOT_COLLECTED", f"{run}-e2", 1),
        ("PURPOSE_VIOLATION", f"{run}-e2", 1),
    ]
