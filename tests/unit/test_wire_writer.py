"""The precompiled Avro writer against fastavro: the same bytes, or a fall-back to fastavro.

``encode_event``/``encode_alert`` write with :mod:`privtrail.wire.writer` when it handles the
value and with fastavro otherwise. The invariant: the bytes are exactly fastavro's, for every
event type and alert, and a value the fast path does not handle gives fastavro's result
(bytes or error), never different bytes.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from test_wire_properties import alerts, events

from privtrail.alerts import Alert
from privtrail.errors import ContractError
from privtrail.wire import alert_to_record, encode_alert, encode_event, event_to_record
from privtrail.wire.codec import ALERT_VERSION, EVENT_VERSION, MAGIC, _write
from privtrail.wire.registry import SchemaVersion
from privtrail.wire.writer import Unsupported, compile_writer, zigzag_varint

pytestmark = pytest.mark.unit

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fastavro_bytes(version: SchemaVersion, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(MAGIC + version.fingerprint)
    fastavro.schemaless_writer(out, version.parsed, record)
    return out.getvalue()


def fast_bytes(schema: Any, record: Any) -> bytes:
    parts: list[bytes] = []
    compile_writer(schema)(record, parts)
    return b"".join(parts)


@given(events)
@_SETTINGS
def test_every_event_encodes_to_fastavros_bytes(event: Any) -> None:
    record = event_to_record(event)
    assert encode_event(event) == fastavro_bytes(EVENT_VERSION, record)
    body = fast_bytes(EVENT_VERSION.schema, record)
    assert MAGIC + EVENT_VERSION.fingerprint + body == fastavro_bytes(EVENT_VERSION, record)


@given(alerts)
@_SETTINGS
def test_every_alert_encodes_to_fastavros_bytes(alert: Alert) -> None:
    assert encode_alert(alert) == fastavro_bytes(ALERT_VERSION, alert_to_record(alert))


def test_all_optional_fields_and_long_values(ev: Any) -> None:
    long_items = [f"item_{n}" for n in range(64)]
    event = ev(
        "used",
        items=long_items,
        purpose="p" * 60,
        operation="view",
        reason="r" * 500,
        request_id="req-" + "x" * 250,
        actor=("staff", "agent-7"),
        subject="ps_" + "b" * 300,
    )
    record = event_to_record(event)
    record["actor"]["role"] = "clerk"
    record["actor"]["ip"] = "ip-ten"
    record["source"]["instance"] = "pod-ü-ñ"  # non-ASCII: length is in UTF-8 bytes
    assert _write(EVENT_VERSION, record) == fastavro_bytes(EVENT_VERSION, record)


@pytest.mark.parametrize(
    "when",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # negative micros
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 27, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    ],
)
def test_timestamps_match_fastavro(ev: Any, when: datetime) -> None:
    record = event_to_record(ev("consent_given", scope="newsletter"))
    record["occurred_at"] = when
    assert _write(EVENT_VERSION, record) == fastavro_bytes(EVENT_VERSION, record)
    record["occurred_at"] = 1_700_000_000_000_000  # an int is written as is, by both
    assert _write(EVENT_VERSION, record) == fastavro_bytes(EVENT_VERSION, record)


def test_values_it_does_not_handle_go_to_fastavro(ev: Any) -> None:
    """Tuples, str subclasses, defaulted (absent) fields: fastavro's bytes, not different ones."""

    class Str(str):
        pass

    record = event_to_record(ev("used", items=["email"], purpose="support", operation="view"))
    writer = compile_writer(EVENT_VERSION.schema)
    variants = []
    for change in (
        lambda r: r["payload"][1].update(items=("email", "phone")),
        lambda r: r["payload"][1].update(purpose=Str("support")),
        lambda r: r["actor"].pop("role"),  # has a default in the schema
        lambda r: r.update(subject_id=Str("ps_abc")),
    ):
        variant = {**record, "actor": dict(record["actor"])}
        variant["payload"] = (record["payload"][0], dict(record["payload"][1]))
        change(variant)
        variants.append(variant)
    for variant in variants:
        assert _write(EVENT_VERSION, variant) == fastavro_bytes(EVENT_VERSION, variant)
    with pytest.raises((Unsupported, KeyError)):
        writer(variants[2], [])


def test_values_fastavro_refuses_are_refused_the_same_way(ev: Any) -> None:
    record = event_to_record(ev("used", items=["email"], purpose="support", operation="view"))
    for bad in (
        {**record, "type": "not_a_type"},
        {**record, "event_id": 42},
        {**record, "payload": ("privtrail.NoSuchPayload", {})},
        {**record, "occurred_at": datetime(2025, 1, 1)},  # naive: fastavro's local-time rule
    ):
        try:
            expected: Any = fastavro_bytes(EVENT_VERSION, bad)
        except Exception as exc:  # noqa: BLE001 - whatever fastavro raises
            expected = type(exc)
        try:
            got: Any = _write(EVENT_VERSION, bad)
        except ContractError as exc:
            assert isinstance(exc.__cause__, expected)  # type: ignore[arg-type]
            continue
        assert got == expected


def test_zigzag_varint_matches_the_spec() -> None:
    assert zigzag_varint(0) == b"\x00"
    assert zigzag_varint(-1) == b"\x01"
    assert zigzag_varint(1) == b"\x02"
    assert zigzag_varint(-64) == b"\x7f"
    assert zigzag_varint(64) == b"\x80\x01"
    assert zigzag_varint(2**63 - 1) == b"\xfe" + b"\xff" * 8 + b"\x01"
    assert zigzag_varint(-(2**63)) == b"\xff" * 9 + b"\x01"
    with pytest.raises(Unsupported):
        zigzag_varint(2**63)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "map", "values": "string"},
        {"type": "fixed", "name": "F", "size": 4},
        ["string", "long"],
        {"type": "int", "logicalType": "date"},
        "double",
    ],
)
def test_schemas_it_does_not_compile_are_refused(schema: Any) -> None:
    with pytest.raises(Unsupported):
        compile_writer(schema)


def test_nested_named_types_and_references() -> None:
    schema = {
        "type": "record",
        "name": "Outer",
        "namespace": "ns",
        "fields": [
            {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["x", "y"]}},
            {"name": "b", "type": "E"},
            {"name": "c", "type": ["null", "ns.E"]},
            {"name": "d", "type": {"type": "array", "items": "E"}},
            {"name": "e", "type": "boolean"},
            {"name": "f", "type": "long"},
        ],
    }
    record = {"a": "y", "b": "x", "c": "y", "d": ["x", "y", "y"], "e": True, "f": -300}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    assert fast_bytes(schema, record) == out.getvalue()
