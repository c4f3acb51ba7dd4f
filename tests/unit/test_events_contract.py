"""The JSON form of the event contract: what it accepts, what it refuses, and how it says so."""

from __future__ import annotations

from typing import Any

import pytest

from privtrail.errors import ContractError
from privtrail.events import (
    EVENT_TYPES,
    Used,
    looks_personal,
    parse_event,
    parse_event_json,
)

pytestmark = pytest.mark.unit


def _used(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "ev-1",
        "type": "used",
        "occurred_at": "2026-03-02T09:00:00+09:00",
        "source": {"service": "support-desk"},
        "actor": {"kind": "staff", "id": "agent-7"},
        "subject_id": "ps_subject",
        "items": ["phone"],
        "purpose": "user_management",
        "operation": "view",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "value",
    [
        "010-1234-5678",
        "+82 10 1234 5678",
        "02-123-4567",
        "(02) 123-4567",
        "user@example.invalid",
        "call 010 1234 5678 now",
    ],
)
def test_personal_values_are_recognised(value: str) -> None:
    assert looks_personal(value)


@pytest.mark.parametrize(
    "value",
    [
        "agent-7",
        "subj-0001",
        "2026-01-01",
        "10.0.0.7",
        "demo20261127205305-001",
        "123e4567-e89b-12d3-a456-426614174000",
        "ps_abcdefghijklmnop",
        "colabox-v1",
    ],
)
def test_ids_and_categories_are_not_personal(value: str) -> None:
    assert not looks_personal(value)


def test_timestamps_become_utc_and_render_with_z() -> None:
    event = parse_event(_used())
    assert isinstance(event, Used)
    assert event.to_json()["occurred_at"] == "2026-03-02T00:00:00Z"


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    raw = parse_event(_used()).canonical_bytes()
    assert raw.startswith(b'{"actor":{"id":"agent-7","kind":"staff"},"event_id":"ev-1"')
    assert b" " not in raw


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (_used(occurred_at="2026-03-02T09:00:00"), "occurred_at", "time zone"),
        (_used(items=["user@example.invalid"]), "items[0]", "personal value"),
        (_used(items=["Phone Number"]), "items[0]", "not a vocabulary term"),
        (_used(items=[]), "items", "at least 1"),
        (_used(subject_id=None), "subject_id", "required"),
        (_used(actor={"kind": "robot", "id": "x"}), "actor.kind", "staff"),
        (_used(actor={"kind": "staff", "id": "010-1234-5678"}), "actor.id", "personal"),
        (_used(colour="red"), "colour", "unknown field"),
        (_used(type="teleported"), "type", "unknown event type 'teleported'"),
        ({"event_id": "x"}, "type", "missing"),
    ],
)
def test_contract_errors_name_the_field(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ContractError) as info:
        parse_event(data)
    assert info.value.field == field
    assert message in info.value.reason


def test_no_subject_types_refuse_a_subject() -> None:
    data = {
        "event_id": "ev-2",
        "type": "handler_authorized",
        "occurred_at": "2026-03-02T00:00:00Z",
        "source": {"service": "admin-console"},
        "actor": {"kind": "staff", "id": "officer-1"},
        "subject_id": "ps_subject",
        "handler_id": "agent-7",
        "role": "support_agent",
    }
    with pytest.raises(ContractError, match="subject_id: must be absent"):
        parse_event(data)


@pytest.mark.parametrize(("text", "message"), [(b"{bad", "not valid JSON"), (b"[1]", "object")])
def test_json_lines_errors(text: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_event_json(text)


def test_every_contract_type_is_known() -> None:
    assert len(EVENT_TYPES) == 17
    assert EVENT_TYPES[0] == "collected" and EVENT_TYPES[-1] == "policy_published"
