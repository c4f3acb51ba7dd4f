"""Every event type (and an alert) through the wire: fastavro, single-object, and official avro.

Chain checked per type: JSON form -> typed event -> single-object bytes -> typed event, and the
Avro body written by fastavro read by ``avro`` (and the reverse), so the schema and our record
form are not a private agreement with one library.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import avro.errors
import avro.io
import avro.schema
import fastavro
import pytest

from privtrail.alerts import Alert
from privtrail.events import EVENT_TYPES, parse_event
from privtrail.wire import (
    ALERT_SCHEMA,
    EVENT_SCHEMA,
    alert_to_record,
    decode_alert,
    decode_event,
    encode_alert,
    encode_event,
    event_to_record,
    fingerprint_of,
    record_to_alert,
    record_to_event,
)
from privtrail.wire.codec import EVENT_VERSION, HEADER_SIZE, MAGIC

pytestmark = pytest.mark.unit

_HEAD: dict[str, Any] = {
    "occurred_at": "2026-03-01T09:30:00.123456Z",
    "source": {"service": "crm", "instance": "crm-7f9c"},
    "actor": {"kind": "staff", "id": "staff-0042", "role": "sales", "ip": "10.0.0.0/8"},
    "subject_id": "subj-9a1f",
    "subject_key_id": "key-2026-01",
}

# One JSON-form example per type, with every optional field set somewhere, and minimal
# variants ("min") where optional fields matter; categories and pseudonyms only.
EXAMPLES: dict[str, dict[str, Any]] = {
    "collected": {
        "items": ["email", "company_name"],
        "context": "product_inquiry",
        "method": "inquiry_board",
        "purposes": ["user_management", "marketing"],
    },
    "used": {
        "items": ["email"],
        "purpose": "user_management",
        "operation": "download",
        "reason": "quarterly export for the contract review",
        "request_id": "req-0007",
    },
    "disclosed": {
        "items": ["contract_record"],
        "recipient": "third_party:court",
        "purpose": "legal_compliance",
        "basis": "legal_request",
        "legal_reference": "case-2026-114",
    },
    "consent_given": {"scope": "third_party:salesforce"},
    "consent_withdrawn": {"scope": "marketing"},
    "correction_requested": {"request_id": "req-0001", "items": ["phone"]},
    "corrected": {"request_id": "req-0001"},
    "recipient_notified": {"request_id": "req-0001", "recipient": "salesforce"},
    "access_requested": {"request_id": "req-0002", "channel": "board"},
    "identity_verified": {"request_id": "req-0002", "verified_as": "legal_representative"},
    "access_fulfilled": {"request_id": "req-0002"},
    "withdrawal_requested": {},
    "archived": {"items": ["payment_record"]},
    "destroyed": {
        "items": ["web_visit_record"],
        "method": "irrecoverable_delete",
        "reason": "retention_expired",
    },
    "handler_authorized": {"handler_id": "staff-0042", "role": "support"},
    "handler_revoked": {"handler_id": "staff-0042", "role": "support"},
    "policy_published": {
        "policy_version": "2026-03",
        "announced_at": "2026-03-01T00:00:00Z",
        "effective_at": "2026-03-31T00:00:00.000001Z",
        "significant": True,
    },
}
NO_SUBJECT = {"handler_authorized", "handler_revoked", "policy_published"}


OPTIONAL_PAYLOAD = {"used": ("reason", "request_id"), "disclosed": ("legal_reference",)}


def example(kind: str, *, minimal: bool = False) -> dict[str, Any]:
    """The JSON form of one event of ``kind``; ``minimal`` leaves out every optional field."""
    data: dict[str, Any] = {"event_id": f"evt-{kind}", "type": kind, **_HEAD, **EXAMPLES[kind]}
    if kind in NO_SUBJECT:
        del data["subject_id"], data["subject_key_id"]
    elif kind != "policy_published":
        data["policy_version"] = "2026-01"
    if minimal:
        data["source"] = {"service": "crm"}
        data["actor"] = {"kind": "service", "id": "crm"}
        data.pop("subject_key_id", None)
        if kind != "policy_published":
            data.pop("policy_version", None)
        for key in OPTIONAL_PAYLOAD.get(kind, ()):
            del data[key]
    return data


CASES = [(k, m) for k in EVENT_TYPES for m in (False, True)]
IDS = [f"{k}-{'min' if m else 'full'}" for k, m in CASES]


# --- the official avro package, taught our named-branch record form --------------------------


class _NamedUnionWriter(avro.io.DatumWriter):  # type: ignore[misc]
    """``avro``'s writer picks a union branch by shape; ours are named, as in fastavro."""

    def write(self, datum: object, encoder: avro.io.BinaryEncoder) -> None:
        # Validation happens per branch in write_union; the whole-record check cannot know
        # the (name, fields) pair.
        self.write_data(self.writers_schema, datum, encoder)

    def write_union(self, schema: Any, datum: object, encoder: avro.io.BinaryEncoder) -> None:
        if isinstance(datum, tuple):
            name, value = datum
            for index, branch in enumerate(schema.schemas):
                if getattr(branch, "fullname", None) == name:
                    avro.io.validate(branch, value, raise_on_error=True)
                    encoder.write_long(index)
                    self.write_data(branch, value, encoder)
                    return
            raise avro.errors.AvroTypeException(schema, datum)
        super().write_union(schema, datum, encoder)


class _NamedUnionReader(avro.io.DatumReader):  # type: ignore[misc]
    """Return record branches of a union as ``(full name, record)``, as fastavro does."""

    def read_union(self, writer: Any, reader: Any, decoder: avro.io.BinaryDecoder) -> object:
        start = decoder.reader.tell()
        index = int(decoder.read_long())
        decoder.reader.seek(start)
        value = super().read_union(writer, reader, decoder)
        branch = writer.schemas[index]
        if isinstance(branch, avro.schema.RecordSchema):
            return (branch.fullname, value)
        return value


AVRO_EVENT = avro.schema.parse(json.dumps(EVENT_SCHEMA))
AVRO_ALERT = avro.schema.parse(json.dumps(ALERT_SCHEMA))


def avro_write(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    _NamedUnionWriter(schema).write(record, avro.io.BinaryEncoder(out))
    return out.getvalue()


def avro_read(schema: Any, body: bytes) -> Any:
    return _NamedUnionReader(schema, schema).read(avro.io.BinaryDecoder(io.BytesIO(body)))


# --- events ------------------------------------------------------------------------------------


def test_examples_cover_every_event_type() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize(("kind", "minimal"), CASES, ids=IDS)
def test_event_round_trips_through_single_object_bytes(kind: str, minimal: bool) -> None:
    json_form = example(kind, minimal=minimal)
    event = parse_event(json_form)
    data = encode_event(event)
    assert data[:2] == MAGIC
    assert data[2:HEADER_SIZE] == fingerprint_of(EVENT_SCHEMA)
    back = decode_event(data)
    assert back == event
    assert type(back) is type(event)
    assert back.to_json() == json_form
    assert back.canonical_bytes() == event.canonical_bytes()


@pytest.mark.parametrize(("kind", "minimal"), CASES, ids=IDS)
def test_fastavro_body_reads_with_official_avro(kind: str, minimal: bool) -> None:
    event = parse_event(example(kind, minimal=minimal))
    body = encode_event(event)[HEADER_SIZE:]
    record = avro_read(AVRO_EVENT, body)
    assert record == event_to_record(event)
    assert record_to_event(record) == event


@pytest.mark.parametrize(("kind", "minimal"), CASES, ids=IDS)
def test_official_avro_body_reads_with_fastavro(kind: str, minimal: bool) -> None:
    event = parse_event(example(kind, minimal=minimal))
    body = avro_write(AVRO_EVENT, event_to_record(event))
    assert body == encode_event(event)[HEADER_SIZE:]  # same bytes from both libraries
    assert decode_event(MAGIC + EVENT_VERSION.fingerprint + body) == event


def test_look_alike_payloads_keep_their_branch() -> None:
    # consent_given and consent_withdrawn have the same shape; a shape-based branch choice
    # would turn one into the other.
    for kind in ("consent_given", "consent_withdrawn", "corrected", "access_fulfilled"):
        event = parse_event(example(kind))
        assert decode_event(encode_event(event)).type == kind


def test_record_form_is_a_copy() -> None:
    event = parse_event(example("collected"))
    record = event_to_record(event)
    record["payload"][1]["items"].append("phone")
    assert event.items == ["email", "company_name"]  # type: ignore[union-attr]


def test_timestamps_keep_microseconds_and_come_back_in_utc() -> None:
    data = example("used")
    data["occurred_at"] = "2026-03-01T18:30:00.000001+09:00"
    back = decode_event(encode_event(parse_event(data)))
    assert back.occurred_at == datetime(2026, 3, 1, 9, 30, 0, 1, tzinfo=UTC)
    assert back.occurred_at.utcoffset() == timedelta(0)


# --- alerts ------------------------------------------------------------------------------------


def _alert(**over: Any) -> Alert:
    fields: dict[str, Any] = {
        "rule": "CORRECTION_NOT_PROPAGATED",
        "event_id": "evt-0001",
        "subject_id": "subj-9a1f",
        "severity": "high",
        "message": "recipient not notified within 10 days of the correction",
        "occurred_at": datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC),
        "policy_version": "2026-01",
        "actor_id": "staff-0042",
        "evidence": {"recipient": "salesforce", "items": ["phone"], "days": 12},
    }
    fields.update(over)
    return Alert(**fields)


@pytest.mark.parametrize(
    "alert",
    [
        _alert(),
        _alert(subject_id=None, actor_id=None, evidence={}, severity="low"),
        _alert(occurred_at=datetime(2026, 3, 1, 18, 30, tzinfo=timezone(timedelta(hours=9)))),
    ],
    ids=["full", "minimal", "offset"],
)
def test_alert_round_trips(alert: Alert) -> None:
    data = encode_alert(alert)
    assert data[2:HEADER_SIZE] == fingerprint_of(ALERT_SCHEMA)
    back = decode_alert(data)
    assert back == alert
    assert back.alert_id == alert.alert_id
    assert back.to_json() == alert.to_json()


def test_alert_body_round_trips_through_official_avro() -> None:
    alert = _alert()
    body = encode_alert(alert)[HEADER_SIZE:]
    record = avro_read(AVRO_ALERT, body)
    assert record == alert_to_record(alert)
    assert avro_write(AVRO_ALERT, record) == body
    assert record_to_alert(record) == alert


def test_alert_evidence_is_canonical_json() -> None:
    record = alert_to_record(_alert(evidence={"b": 1, "a": ["x"]}))
    assert record["evidence"] == '{"a":["x"],"b":1}'


def test_fastavro_reads_the_alert_back_without_our_code() -> None:
    # A consumer in another codebase only needs the .avsc and the 10-byte header rule.
    body = encode_alert(_alert())[HEADER_SIZE:]
    parsed = fastavro.parse_schema(json.loads(json.dumps(ALERT_SCHEMA)))
    record = fastavro.schemaless_reader(io.BytesIO(body), parsed, None)
    assert record["rule"] == "CORRECTION_NOT_PROPAGATED"
    assert json.loads(record["evidence"])["recipient"] == "salesforce"
