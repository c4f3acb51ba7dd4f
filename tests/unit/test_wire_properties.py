"""Property tests: any valid event of any type survives the wire unchanged.

The strategies build JSON-form events with vocabulary-looking terms (lowercase snake_case,
sometimes ``:qualified``), free text with non-ASCII characters, UTC-normalisable timestamps
with microseconds (some with a non-UTC offset), and every optional field present or absent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privtrail.alerts import SEVERITIES, Alert
from privtrail.events import EVENT_TYPES, looks_personal, parse_event
from privtrail.wire import (
    decode_alert,
    decode_event,
    encode_alert,
    encode_event,
    event_to_record,
    record_to_event,
)

pytestmark = pytest.mark.unit

_WORD = st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z")
term = st.one_of(_WORD, st.builds(lambda a, b: f"{a}:{b}", _WORD, _WORD)).filter(
    lambda s: not looks_personal(s)
)
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda s: not looks_personal(s))
timestamp = st.datetimes(
    min_value=datetime(1900, 1, 2),  # noqa: DTZ001 - bounds are naive by hypothesis' API
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))]),
)
items = st.lists(term, min_size=1, max_size=5)


def _payload(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    request = {"request_id": text}
    shapes: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "collected": (
            {
                "items": items,
                "context": term,
                "method": term,
                "purposes": st.lists(term, min_size=1, max_size=4),
            },
            {},
        ),
        "used": (
            {"items": items, "purpose": term, "operation": term},
            {"reason": text, "request_id": text},
        ),
        "disclosed": (
            {"items": items, "recipient": term, "purpose": term, "basis": term},
            {"legal_reference": text},
        ),
        "consent_given": ({"scope": term}, {}),
        "consent_withdrawn": ({"scope": term}, {}),
        "correction_requested": ({**request, "items": items}, {}),
        "corrected": (request, {}),
        "recipient_notified": ({**request, "recipient": term}, {}),
        "access_requested": ({**request, "channel": term}, {}),
        "identity_verified": (
            {**request, "verified_as": st.sampled_from(["self", "legal_representative"])},
            {},
        ),
        "access_fulfilled": (request, {}),
        "withdrawal_requested": ({}, {}),
        "archived": ({"items": items}, {}),
        "destroyed": (
            {
                "items": items,
                "method": term,
                "reason": st.sampled_from(
                    ["purpose_fulfilled", "retention_expired", "subject_request"]
                ),
            },
            {},
        ),
        "handler_authorized": ({"handler_id": text, "role": text}, {}),
        "handler_revoked": ({"handler_id": text, "role": text}, {}),
        "policy_published": (
            {
                "policy_version": text,
                "announced_at": timestamp,
                "effective_at": timestamp,
                "significant": st.booleans(),
            },
            {},
        ),
    }
    required, optional = shapes[kind]
    return st.fixed_dictionaries(required, optional=optional)


def _header(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, Any] = {
        "event_id": text,
        "type": st.just(kind),
        "occurred_at": timestamp,
        "source": st.fixed_dictionaries({"service": text}, optional={"instance": text}),
        "actor": st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["staff", "service", "subject", "system", "third_party"]),
                "id": text,
            },
            optional={"role": text, "ip": text},
        ),
    }
    optional: dict[str, Any] = {"subject_key_id": text}
    if kind not in ("handler_authorized", "handler_revoked", "policy_published"):
        required["subject_id"] = text
    if kind != "policy_published":
        optional["policy_version"] = text
    return st.fixed_dictionaries(required, optional=optional)


@st.composite
def json_events(draw: st.DrawFn, kinds: tuple[str, ...] = EVENT_TYPES) -> dict[str, Any]:
    """The JSON form of one valid event of any of ``kinds``."""
    kind = draw(st.sampled_from(kinds))
    return {**draw(_header(kind)), **draw(_payload(kind))}


events = json_events().map(parse_event)

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(events)
def test_wire_round_trip_is_identity(event: Any) -> None:
    back = decode_event(encode_event(event))
    assert back == event
    assert back.canonical_bytes() == event.canonical_bytes()
    assert back.to_json() == event.to_json()


@_SETTINGS
@given(json_events())
def test_json_form_to_bytes_and_back(json_form: dict[str, Any]) -> None:
    event = parse_event(json_form)
    # Through the JSON form first, as other-language services would produce it.
    again = parse_event(event.to_json())
    assert decode_event(encode_event(again)) == event


@_SETTINGS
@given(events)
def test_record_form_round_trip_and_stable_bytes(event: Any) -> None:
    assert record_to_event(event_to_record(event)) == event
    data = encode_event(event)
    assert encode_event(decode_event(data)) == data


@pytest.mark.parametrize("kind", EVENT_TYPES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_type_is_generated_and_round_trips(kind: str, data: st.DataObject) -> None:
    # Per-type, so a type the sampler happens to miss still gets its share of examples.
    event = parse_event(data.draw(json_events((kind,))))
    assert event.type == kind
    assert decode_event(encode_event(event)) == event


alerts = st.builds(
    Alert,
    rule=st.from_regex(r"\A[A-Z][A-Z_]{2,30}\Z"),
    event_id=text,
    subject_id=st.none() | text,
    severity=st.sampled_from(SEVERITIES),
    message=st.text(max_size=200),
    occurred_at=timestamp,
    policy_version=text,
    actor_id=st.none() | text,
    evidence=st.dictionaries(
        st.text(max_size=12),
        st.one_of(text, st.integers(-(2**53), 2**53), st.booleans(), st.lists(term, max_size=4)),
        max_size=5,
    ),
)


@_SETTINGS
@given(alerts)
def test_alert_round_trip_is_identity(alert: Alert) -> None:
    back = decode_alert(encode_alert(alert))
    assert back == alert
    assert back.alert_id == alert.alert_id
    assert back.to_json() == alert.to_json()
