"""Every way decoding can fail: each WireError branch, and ContractError for readable bytes."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtrail.alerts import Alert
from privtrail.errors import ContractError, WireError
from privtrail.events import parse_event
from privtrail.wire import (
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
from privtrail.wire.codec import ALERT_VERSION, EVENT_VERSION, HEADER_SIZE, MAGIC

pytestmark = pytest.mark.unit

EVENT = parse_event(
    {
        "event_id": "evt-0001",
        "type": "used",
        "occurred_at": "2026-03-01T09:30:00Z",
        "source": {"service": "crm"},
        "actor": {"kind": "staff", "id": "staff-0042"},
        "subject_id": "subj-9a1f",
        "items": ["email", "phone"],
        "purpose": "user_management",
        "operation": "view",
        "reason": "support ticket",
    }
)
GOOD = encode_event(EVENT)


def _raw(record: dict[str, Any]) -> bytes:
    """Frame a record written straight with fastavro: bytes our encoder would never make."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, EVENT_VERSION.parsed, record)
    return MAGIC + EVENT_VERSION.fingerprint + out.getvalue()


def test_good_bytes_decode() -> None:
    # The baseline every other case breaks one thing of.
    assert decode_event(GOOD) == EVENT


@pytest.mark.parametrize("size", [0, 1, 2, 9])
def test_short_buffer(size: int) -> None:
    with pytest.raises(WireError, match=r"truncated message: \d+ bytes"):
        decode_event(GOOD[:size])


@pytest.mark.parametrize("magic", [b"\x00\x00", b"\xc3\x00", b"\x01\xc3", b'{"'])
def test_bad_magic(magic: bytes) -> None:
    with pytest.raises(WireError, match=f"bad magic {magic.hex()}"):
        decode_event(magic + GOOD[2:])


def test_unknown_fingerprint_names_it_in_hex() -> None:
    unknown = fingerprint_of({"type": "record", "name": "Other", "fields": []})
    with pytest.raises(WireError, match=f"unknown schema fingerprint {unknown.hex()}") as info:
        decode_event(MAGIC + unknown + GOOD[HEADER_SIZE:])
    # The message also lists what this reader does know, for the operator.
    assert EVENT_VERSION.fingerprint.hex() in str(info.value)


def test_alert_bytes_are_not_an_event() -> None:
    alert = Alert(
        rule="BULK_ACCESS",
        event_id="evt-0001",
        subject_id=None,
        severity="medium",
        message="more than 200 subjects in an hour",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        policy_version="2026-01",
    )
    with pytest.raises(WireError, match=f"{ALERT_VERSION.fingerprint.hex()} is alert.v1"):
        decode_event(encode_alert(alert))
    with pytest.raises(WireError, match="is event.v1, not a version of 'alert'"):
        decode_alert(GOOD)


@pytest.mark.parametrize("cut", range(HEADER_SIZE, len(GOOD)))
def test_every_truncation_of_the_body(cut: int) -> None:
    with pytest.raises(WireError, match="corrupt event.v1 body"):
        decode_event(GOOD[:cut])


def test_trailing_bytes() -> None:
    with pytest.raises(WireError, match="2 trailing bytes after the event.v1 body"):
        decode_event(GOOD + b"\x00\x00")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xff" * 12, "varint"),
        (b"\x02a\x7f", "enum index out of range"),  # event_id "a", then type index -64
        (b"\x04\xff\xfe", "invalid UTF-8 in event_id"),
    ],
    ids=["varint", "enum", "utf8"],
)
def test_garbage_body(body: bytes, why: str) -> None:
    with pytest.raises(WireError, match="corrupt event.v1 body"):
        decode_event(MAGIC + EVENT_VERSION.fingerprint + body)


def test_union_branch_out_of_range() -> None:
    body = bytearray(GOOD)
    # The payload's branch index is the first byte after the header fields; find it by
    # re-encoding with a known different branch and comparing.
    record = event_to_record(EVENT)
    record["payload"] = ("privtrail.WithdrawalRequestedPayload", {})
    head = _raw(record)[:-1]  # the empty payload is just its index byte
    assert bytes(body[: len(head)]) == head
    body[len(head)] = 0x7E  # zig-zag 63: no such branch
    with pytest.raises(WireError, match="corrupt event.v1 body"):
        decode_event(bytes(body))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_body_raises_only_our_errors(body: bytes) -> None:
    # Anything else (IndexError, UnicodeDecodeError, ...) escaping would fail the test.
    with contextlib.suppress(WireError, ContractError):
        decode_event(MAGIC + EVENT_VERSION.fingerprint + body)


# --- readable bytes that break the contract: ContractError, naming the field -----------------


def test_missing_subject_is_a_contract_error() -> None:
    record = event_to_record(EVENT)
    record["subject_id"] = None
    with pytest.raises(ContractError, match="subject_id: required for this event type"):
        decode_event(_raw(record))


def test_term_that_is_not_a_term() -> None:
    record = event_to_record(EVENT)
    record["payload"][1]["items"] = ["email", "Not A Term"]
    with pytest.raises(ContractError) as info:
        decode_event(_raw(record))
    assert info.value.field == "items[1]"


def test_type_must_match_the_payload_branch() -> None:
    record = event_to_record(EVENT)
    record["type"] = "collected"
    with pytest.raises(ContractError, match="'collected' does not match the payload branch"):
        decode_event(_raw(record))


def test_naive_timestamp_is_refused_in_alerts() -> None:
    alert = Alert(
        rule="BULK_ACCESS",
        event_id="evt-0001",
        subject_id=None,
        severity="medium",
        message="more than 200 subjects in an hour",
        occurred_at=datetime(2026, 3, 1),  # noqa: DTZ001 - the point of the test
        policy_version="2026-01",
    )
    with pytest.raises(ContractError, match="occurred_at: timestamp must carry a time zone"):
        encode_alert(alert)


def test_record_to_event_names_bad_payload() -> None:
    record = event_to_record(EVENT)
    record["payload"] = {"items": ["email"]}
    with pytest.raises(ContractError, match="payload: must be a"):
        record_to_event(record)
    record["payload"] = ("privtrail.NoSuchPayload", {})
    with pytest.raises(ContractError, match="unknown payload branch 'privtrail.NoSuchPayload'"):
        record_to_event(record)


def test_record_to_event_refuses_unknown_fields() -> None:
    record = event_to_record(EVENT)
    record["extra"] = "x"
    with pytest.raises(ContractError, match="extra: unknown field"):
        record_to_event(record)


def test_tampered_alert_id() -> None:
    alert = Alert(
        rule="BULK_ACCESS",
        event_id="evt-0001",
        subject_id=None,
        severity="medium",
        message="more than 200 subjects in an hour",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        policy_version="2026-01",
    )
    data = encode_alert(alert)
    # alert_id is the first field: a length byte then 32 hex characters.
    tampered = data[: HEADER_SIZE + 1] + b"0" * 32 + data[HEADER_SIZE + 33 :]
    with pytest.raises(ContractError, match="alert_id: .* does not match"):
        decode_alert(tampered)


def test_event_schema_constant_is_the_latest_file() -> None:
    assert fingerprint_of(EVENT_SCHEMA) == EVENT_VERSION.fingerprint


ALERT = Alert(
    rule="BULK_ACCESS",
    event_id="evt-0001",
    subject_id=None,
    severity="medium",
    message="more than 200 subjects in an hour",
    occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
    policy_version="2026-01",
)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"evidence": "[1, 2]"}, "evidence", "must be a JSON object"),
        ({"evidence": "{not json"}, "evidence", "not valid JSON"),
        ({"severity": "urgent"}, "severity", "'urgent' is not one of"),
        ({"occurred_at": datetime(2026, 3, 1)}, "occurred_at", "timezone-aware"),  # noqa: DTZ001
    ],
    ids=["evidence-list", "evidence-json", "severity", "naive"],
)
def test_record_to_alert_names_the_bad_field(
    change: dict[str, Any], field: str, message: str
) -> None:
    record = {**alert_to_record(ALERT), **change}
    with pytest.raises(ContractError, match=message) as info:
        record_to_alert(record)
    assert info.value.field == field


def test_record_to_alert_names_a_missing_field() -> None:
    record = alert_to_record(ALERT)
    del record["rule"]
    with pytest.raises(ContractError, match="rule: missing required field"):
        record_to_alert(record)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=lambda w: w.__name__)
def test_any_bytes_like_buffer_decodes(wrap: Any) -> None:
    # Kafka clients hand out bytes; zero-copy consumers may hand out a memoryview.
    assert decode_event(wrap(GOOD)) == EVENT
    with pytest.raises(WireError, match="bad magic"):
        decode_event(wrap(b"\x00" + GOOD[1:]))
