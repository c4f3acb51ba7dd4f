"""The contract -> typed columns mapping, and the SQL that checks it on the server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from privtrail.alerts import Alert
from privtrail.events import EVENT_TYPES, canonical_json
from privtrail.sinks.rows import (
    ALERT_COLUMNS,
    EVENT_COLUMNS,
    EVENT_FIELDS,
    alert_row,
    columns_check_sql,
    columns_from_mask,
    event_row,
    full_event_row,
    typed_values,
)
from privtrail.sinks.samples import sample_events

pytestmark = pytest.mark.unit


def _by_column(values: list[object]) -> dict[str, object]:
    return {f.column: v for f, v in zip(EVENT_FIELDS, values, strict=True)}


def test_used_event_maps_to_its_columns() -> None:
    event = next(e for e in sample_events(10) if e.type == "used")
    row = event_row(event)
    cols = _by_column(row.values)
    assert cols["type"] == "used"
    assert cols["actor_id"] == event.actor.id
    assert cols["service"] == "crm"
    assert cols["items"] == list(event.items)  # type: ignore[attr-defined]
    assert cols["occurred_at"] == event.occurred_at
    # Absent optional fields: '' / [] / None, never a made-up value.
    assert cols["recipient"] == "" and cols["purposes"] == [] and cols["significant"] is None
    assert row.canonical == event.canonical_bytes()


def test_policy_published_keeps_booleans_and_timestamps() -> None:
    event = next(e for e in sample_events(10) if e.type == "policy_published")
    cols = _by_column(event_row(event).values)
    assert cols["subject_id"] == ""
    assert cols["significant"] is event.significant  # type: ignore[attr-defined]
    assert cols["announced_at"] == event.announced_at  # type: ignore[attr-defined]
    assert cols["effective_at"].tzinfo is not None  # type: ignore[union-attr]


def test_every_top_level_contract_field_has_a_column() -> None:
    """A new contract field without a column would be kept only in event_json: flag it."""
    mapped = {f.path[0] for f in EVENT_FIELDS}
    from privtrail.events import EVENT_CLASSES

    for name in EVENT_TYPES:
        fields = set(EVENT_CLASSES[name].model_fields)
        assert fields <= mapped, f"{name}: {sorted(fields - mapped)} have no column"


def test_full_row_has_every_column_in_order() -> None:
    event = next(iter(sample_events(1)))
    row = full_event_row(
        event_row(event), topic="t", partition=2, leaf_index=7, leaf_hash=b"\x01" * 32,
        offset=9, ingested_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert len(row) == len(EVENT_COLUMNS)
    named = dict(zip(EVENT_COLUMNS, row, strict=True))
    assert named["event_json"].encode() == event.canonical_bytes()
    assert (named["log_partition"], named["leaf_index"], named["kafka_offset"]) == (2, 7, 9)


def test_typed_values_from_a_json_document() -> None:
    event = next(iter(sample_events(1)))
    doc = json.loads(canonical_json(event.to_json()))
    assert typed_values(doc) == event_row(event).values


def test_alert_row() -> None:
    alert = Alert(
        rule="r1", event_id="ev-1", subject_id=None, severity="high", message="m",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC), policy_version="v",
        evidence={"b": 1, "a": ["x"]},
    )  # fmt: skip
    now = datetime(2026, 2, 1, tzinfo=UTC)
    row = dict(zip(ALERT_COLUMNS, alert_row(
        alert, topic="a", partition=0, offset=3, raised_at=now, ingested_at=now
    ), strict=True))  # fmt: skip
    assert row["alert_id"] == alert.alert_id
    assert row["subject_id"] == "" and row["actor_id"] == ""
    assert row["evidence_json"] == '{"a":["x"],"b":1}'


def test_check_sql_has_one_bit_per_column() -> None:
    sql = columns_check_sql()
    bits = [int(b) for b in re.findall(r"\) \* (\d+)", sql)]
    assert bits == [1 << i for i in range(len(EVENT_FIELDS))]
    assert "AS column_mask" in sql and "JSONExtract(event_json" in sql


def test_mask_names_columns() -> None:
    names = [f.column for f in EVENT_FIELDS]
    assert columns_from_mask(0) == []
    assert columns_from_mask(1 | 1 << names.index("actor_id")) == ["event_id", "actor_id"]


def test_compiled_typed_values_match_the_reference() -> None:
    from privtrail.sinks.rows import _typed_values_slow

    for event in sample_events(40):
        doc = event.to_json()
        assert typed_values(doc) == _typed_values_slow(doc)
    assert typed_values({"occurred_at": "2026-01-01T00:00:00Z"})[1] == ""
