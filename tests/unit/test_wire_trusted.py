"""``decode_event_trusted`` (no validation) against ``decode_event`` (full validation).

The invariant the sink relies on: for bytes that ``decode_event`` accepts, the trusted path
returns an equal event with the same typed fields, ``to_json()`` and ``canonical_bytes()`` (the
bytes a Merkle leaf hashes). Checked on generated events of every type (the strategies of
``test_wire_properties``) and on explicit events with every optional field present and absent.
Bytes that cannot be read still raise :class:`WireError`.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError
from test_wire_properties import events, json_events

from privtrail.alerts import Alert
from privtrail.errors import ContractError, WireError
from privtrail.events import EVENT_CLASSES, EVENT_TYPES, Actor, BaseEvent, Source, parse_event
from privtrail.wire import (
    decode_event,
    decode_event_trusted,
    encode_alert,
    encode_event,
    event_to_record,
    record_to_event_trusted,
)
from privtrail.wire.codec import EVENT_VERSION, HEADER_SIZE, MAGIC, frame
from privtrail.wire.trusted import _builder, _plain

pytestmark = pytest.mark.unit

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_same(data: bytes) -> Any:
    """Decode ``data`` both ways and check the invariant; returns the trusted event."""
    checked = decode_event(data)
    trusted = decode_event_trusted(data)
    assert type(trusted) is type(checked)
    assert trusted.canonical_bytes() == checked.canonical_bytes()
    assert trusted.to_json() == checked.to_json()
    assert list(trusted.to_json()) == list(checked.to_json())  # same key order, too
    assert trusted == checked
    assert trusted.model_fields_set == checked.model_fields_set
    for name in type(checked).model_fields:
        mine, theirs = getattr(trusted, name), getattr(checked, name)
        assert mine == theirs, name
        assert type(mine) is type(theirs), name
        if isinstance(mine, datetime):
            assert mine.tzinfo is UTC and theirs.tzinfo is UTC, name
    for name in ("source", "actor"):
        mine, theirs = getattr(trusted, name), getattr(checked, name)
        assert mine.model_dump() == theirs.model_dump()
        assert mine.model_fields_set == theirs.model_fields_set
    return trusted


# -- generated events ---------------------------------------------------------------------


@_SETTINGS
@given(events)
def test_trusted_decode_matches_validated_decode(event: Any) -> None:
    trusted = _assert_same(encode_event(event))
    assert trusted == event
    assert trusted.canonical_bytes() == event.canonical_bytes()


@pytest.mark.parametrize("kind", EVENT_TYPES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_trusted_decode_matches_for_every_type(kind: str, data: st.DataObject) -> None:
    # Per type, so none of the 17 depends on the sampler's luck.
    event = parse_event(data.draw(json_events((kind,))))
    assert _assert_same(encode_event(event)).type == kind


# -- every type with all optional fields present, and with none ----------------------------

# Non-UTC offsets and microseconds, so the UTC normalisation is exercised too.
_T1 = datetime(2026, 3, 1, 18, 30, 0, 123456, tzinfo=timezone(timedelta(hours=9)))
_T2 = datetime(2026, 3, 31, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
_NO_SUBJECT = {k for k, cls in EVENT_CLASSES.items() if not cls.HAS_SUBJECT}

REQUIRED: dict[str, dict[str, Any]] = {
    "collected": {
        "items": ["email", "company_name"],
        "context": "product_inquiry",
        "method": "inquiry_board",
        "purposes": ["user_management", "marketing"],
    },
    "used": {"items": ["email"], "purpose": "user_management", "operation": "download"},
    "disclosed": {
        "items": ["contract_record"],
        "recipient": "salesforce",
        "purpose": "contract_performance",
        "basis": "entrustment",
    },
    "consent_given": {"scope": "marketing"},
    "consent_withdrawn": {"scope": "marketing:newsletter"},
    "correction_requested": {"request_id": "req-1", "items": ["phone"]},
    "corrected": {"request_id": "req-1"},
    "recipient_notified": {"request_id": "req-1", "recipient": "salesforce"},
    "access_requested": {"request_id": "req-2", "channel": "board"},
    "identity_verified": {"request_id": "req-2", "verified_as": "legal_representative"},
    "access_fulfilled": {"request_id": "req-2"},
    "withdrawal_requested": {},
    "archived": {"items": ["payment_record"]},
    "destroyed": {"items": ["web_visit_record"], "method": "shred", "reason": "retention_expired"},
    "handler_authorized": {"handler_id": "staff-0042", "role": "support"},
    "handler_revoked": {"handler_id": "staff-0042", "role": "support"},
    "policy_published": {
        "policy_version": "2026-03",
        "announced_at": _T1.isoformat(),
        "effective_at": _T2.isoformat(),
        "significant": True,
    },
}
OPTIONAL: dict[str, dict[str, Any]] = {
    "used": {"reason": "ticket 7 — réclamation", "request_id": "req-9"},
    "disclosed": {"legal_reference": "APPI art. 27(5)(i)"},
}


def _form(kind: str, *, full: bool) -> dict[str, Any]:
    form: dict[str, Any] = {
        "event_id": f"evt-{kind}-{'full' if full else 'min'}",
        "type": kind,
        "occurred_at": _T1.isoformat(),
        "source": {"service": "crm"},
        "actor": {"kind": "staff", "id": "staff-0042"},
        **REQUIRED[kind],
    }
    if kind not in _NO_SUBJECT:
        form["subject_id"] = "subj-9a1f"
    if full:
        form["source"]["instance"] = "crm-7f9c"
        form["actor"].update(role="sales", ip="10.0.0.0/8")
        form["subject_key_id"] = "key-2026-01"
        form.setdefault("policy_version", "2026-02")
        form.update(OPTIONAL.get(kind, {}))
    return form


def _required(cls: type[BaseEvent]) -> set[str]:
    names = {n for n, f in cls.model_fields.items() if f.is_required()} | {"type"}
    return names | {"subject_id"} if cls.HAS_SUBJECT else names


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_optional_field_present(kind: str) -> None:
    event = parse_event(_form(kind, full=True))
    doc = event.to_json()
    # The example really sets every field the type has, nested ones included.
    assert set(doc) == set(type(event).model_fields) - (
        {"subject_id"} if kind in _NO_SUBJECT else set()
    )
    assert set(doc["source"]) == {"service", "instance"}
    assert set(doc["actor"]) == {"kind", "id", "role", "ip"}
    assert _assert_same(encode_event(event)) == event


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_optional_field_absent(kind: str) -> None:
    event = parse_event(_form(kind, full=False))
    doc = event.to_json()
    assert set(doc) == _required(type(event))
    assert set(doc["source"]) == {"service"}
    assert set(doc["actor"]) == {"kind", "id"}
    trusted = _assert_same(encode_event(event))
    assert trusted == event
    optional = set(type(event).model_fields) - _required(type(event))
    assert all(getattr(trusted, name) is None for name in optional)
    assert trusted.source.instance is None
    assert trusted.actor.role is None and trusted.actor.ip is None


# -- what the trusted path does not do ----------------------------------------------------


def _good() -> bytes:
    return encode_event(parse_event(_form("used", full=True)))


def _bad_bytes() -> dict[str, bytes]:
    good = _good()
    return {
        "empty": b"",
        "short header": good[: HEADER_SIZE - 1],
        "bad magic": b"\x00\x01" + good[2:],
        "unknown fingerprint": MAGIC + b"\xff" * 8 + good[HEADER_SIZE:],
        "alert fingerprint": _alert_bytes(),
        "truncated body": good[:-3],
        "trailing bytes": good + b"\x00",
        "string runs past the end": good[:HEADER_SIZE] + b"\x7e" + good[HEADER_SIZE + 1 :],
    }


def _alert_bytes() -> bytes:
    alert = Alert(
        rule="PURPOSE_NOT_ALLOWED", event_id="evt-1", subject_id="subj-1", severity="high",
        message="m", occurred_at=_T1, policy_version="2026-03", actor_id=None, evidence={},
    )  # fmt: skip
    return encode_alert(alert)


@pytest.mark.parametrize("case", list(_bad_bytes()))
def test_unreadable_bytes_still_raise_wire_error(case: str) -> None:
    data = _bad_bytes()[case]
    with pytest.raises(WireError) as checked:
        decode_event(data)
    with pytest.raises(WireError) as trusted:
        decode_event_trusted(data)
    assert str(trusted.value) == str(checked.value)


def _written(record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, EVENT_VERSION.parsed, record)
    return frame(EVENT_VERSION.fingerprint, out.getvalue())


def test_contract_is_not_checked_which_is_why_it_is_for_validated_bytes_only() -> None:
    # Well-formed Avro, but an e-mail address where a term belongs: decode_event refuses it,
    # the trusted path does not look. This is the documented trade-off.
    record = event_to_record(parse_event(_form("used", full=False)))
    record["payload"][1]["items"] = ["someone@example.com"]
    data = _written(record)
    with pytest.raises(ContractError):
        decode_event(data)
    assert decode_event_trusted(data).items == ["someone@example.com"]  # type: ignore[union-attr]


def test_record_timestamps_are_normalised_like_validation() -> None:
    record = event_to_record(parse_event(_form("policy_published", full=True)))
    record["occurred_at"] = _T1  # aware, not UTC: converted
    record["payload"][1]["announced_at"] = _T2
    event = record_to_event_trusted(record)
    assert event.occurred_at == _T1 and event.occurred_at.tzinfo is UTC
    assert event.announced_at == _T2 and event.announced_at.tzinfo is UTC  # type: ignore[union-attr]
    naive = event_to_record(parse_event(_form("used", full=False)))
    naive["occurred_at"] = datetime(2026, 3, 1, 9, 30)  # noqa: DTZ001 - the case under test
    with pytest.raises(ContractError, match="time zone"):
        record_to_event_trusted(naive)


def test_type_and_payload_branch_must_agree() -> None:
    record = event_to_record(parse_event(_form("used", full=False)))
    record["type"] = "collected"
    with pytest.raises(ContractError, match="does not match"):
        record_to_event_trusted(record)
    record = event_to_record(parse_event(_form("used", full=False)))
    record["payload"] = ("privtrail.NoSuchPayload", {})
    with pytest.raises(ContractError, match="unknown payload branch"):
        record_to_event_trusted(record)


@pytest.mark.parametrize("cls", [Source, Actor, *EVENT_CLASSES.values()], ids=lambda c: c.__name__)
def test_builder_does_what_model_construct_does(cls: type[BaseModel]) -> None:
    assert _plain(cls)  # every contract model takes the fast path
    build = _builder(cls)
    values: dict[str, Any] = {name: f"v-{name}" for name in reversed(list(cls.model_fields))}
    mine, theirs = build(dict(values)), cls.model_construct(**values)
    assert type(mine) is cls
    assert list(mine.__dict__.items()) == list(theirs.__dict__.items())
    assert mine.model_fields_set == theirs.model_fields_set
    assert mine.__pydantic_extra__ == theirs.__pydantic_extra__
    assert mine.__pydantic_private__ == theirs.__pydantic_private__
    assert mine == theirs
    with pytest.raises(ValidationError, match="frozen"):
        mine.__setattr__(next(iter(cls.model_fields)), "changed")


def test_builder_falls_back_to_model_construct_for_aliases() -> None:
    class Aliased(BaseModel):
        value: str = Field(alias="Value")

    assert not _plain(Aliased)
    assert _builder(Aliased)({"value": "x"}) == Aliased.model_construct(value="x")


def test_builder_names_a_field_the_record_lacks() -> None:
    with pytest.raises(ContractError, match="instance"):
        _builder(Source)({"service": "crm"})
