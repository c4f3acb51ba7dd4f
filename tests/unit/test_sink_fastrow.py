"""``sinks.fastrow.record_row`` against the reference path (decode_event_trusted + event_row).

The Merkle leaf hashes the canonical bytes and ``privtrail verify`` recomputes them from
``event_json``, so the fast path must give byte-identical canonical JSON and equal typed
values for every event: checked on generated events of every type (the strategies of
``test_wire_properties``), on records holding arbitrary text (quotes, backslashes, control
characters, astral-plane characters: everything JSON has to escape), and on timestamps across
the whole datetime range.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_wire_properties import events, json_events

from privtrail.errors import ContractError
from privtrail.events import EVENT_TYPES, format_timestamp, parse_event
from privtrail.sinks.fastrow import (
    SUPPORTED,
    record_row,
    timestamp_json,
    typed_timestamp,
    utc,
)
from privtrail.sinks.rows import event_row, parse_timestamp
from privtrail.wire import decode_event_trusted, encode_event, event_to_record
from privtrail.wire.codec import EVENT_VERSION, read_record
from privtrail.wire.trusted import record_to_event_trusted

pytestmark = pytest.mark.unit

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same_values(mine: tuple[Any, ...], theirs: list[Any]) -> None:
    """Equal values; the fast path's array columns are tuples where the reference has lists."""
    assert isinstance(mine, tuple)
    assert [list(a) if isinstance(a, tuple) else a for a in mine] == theirs
    for a, b in zip(mine, theirs, strict=True):
        assert type(a) is (tuple if type(b) is list else type(b))
        if isinstance(a, datetime):
            assert a.tzinfo is UTC and b.tzinfo is UTC


def test_rows_are_untracked_by_the_collector(ev: Any) -> None:
    """The point of tuples: a buffered row soon costs the cyclic collector nothing.

    A tuple is untracked once its elements are; its array tuples may be seen after it in the
    first pass, so it takes at most two (a row never reaches the oldest generation)."""
    import gc

    _, _, values = record_row(event_to_record(ev.use()))
    row = (*values, "{}", "topic", 0, 0, b"\0" * 32, 0, datetime.now(UTC))
    gc.collect()
    gc.collect()
    assert not gc.is_tracked(row)


def _check_bytes(data: bytes) -> None:
    event_id, text, values = record_row(read_record(data, "event", EVENT_VERSION))
    ref = event_row(decode_event_trusted(data))
    assert text.encode() == ref.canonical
    assert event_id == ref.event_id
    _same_values(values, ref.values)


def test_every_branch_compiles() -> None:
    assert SUPPORTED


@_SETTINGS
@given(events)
def test_same_canonical_bytes_and_values_as_the_reference(event: Any) -> None:
    data = encode_event(event)
    _check_bytes(data)
    assert record_row(read_record(data, "event", EVENT_VERSION))[1].encode() == (
        event.canonical_bytes()
    )


@pytest.mark.parametrize("kind", EVENT_TYPES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_type(kind: str, data: st.DataObject) -> None:
    _check_bytes(encode_event(parse_event(data.draw(json_events((kind,))))))


# Any text at all (no surrogates: Avro strings are UTF-8), weighted towards what JSON escapes.
_nasty = st.text(
    alphabet=st.one_of(
        st.sampled_from('"\\/\x00\x01\x1f\x7f\u2028\u2029\U0001f600é\t\n\r\b\f'),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=20,
)


def _replace_strings(record: Any, draw: Any) -> Any:
    """The record with every string value (not enum symbols, not keys) replaced."""
    enums = {"type", "kind", "verified_as", "reason"}

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, tuple):  # the payload: (branch name, fields)
            return (value[0], walk(value[1], None))
        if isinstance(value, list):
            return [draw(_nasty) for _ in value]
        if isinstance(value, str) and key not in enums:
            return draw(_nasty)
        return value

    return walk(record, None)


@_SETTINGS
@given(events, st.data())
def test_arbitrary_text_is_escaped_like_json_dumps(event: Any, data: st.DataObject) -> None:
    record = _replace_strings(event_to_record(event), data.draw)
    if record["type"] == "destroyed":
        record["payload"][1]["reason"] = event.reason  # an enum symbol, kept
    ref = event_row(record_to_event_trusted(copy.deepcopy(record)))
    event_id, text, values = record_row(record)
    assert text.encode() == ref.canonical
    assert event_id == ref.event_id
    _same_values(values, ref.values)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
        max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_timestamp_text_matches_format_timestamp(value: datetime) -> None:
    assert timestamp_json(value) == f'"{format_timestamp(value)}"'
    assert timestamp_json(value.replace(microsecond=0)) == (
        f'"{format_timestamp(value.replace(microsecond=0))}"'
    )


def test_typed_timestamp_is_what_parse_timestamp_reads_back() -> None:
    value = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    assert typed_timestamp(value) == parse_timestamp(format_timestamp(value))
    early = datetime(999, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_timestamp(format_timestamp(early))  # the reference refuses such a year ...
    with pytest.raises(ValueError):
        typed_timestamp(early)  # ... and so does the fast path


def test_utc_normalises_and_refuses_naive() -> None:
    seoul = datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=9)))
    assert utc(seoul) == datetime(2026, 1, 1, tzinfo=UTC)
    assert utc(seoul).tzinfo is UTC
    with pytest.raises(ContractError):
        utc(datetime(2026, 1, 1))  # noqa: DTZ001 - the case under test


def test_unknown_branch_and_mismatched_type_are_refused(ev: Any) -> None:
    record = event_to_record(ev.use())
    with pytest.raises(ContractError, match="unknown payload branch"):
        record_row({**record, "payload": ("privtrail.NoSuchPayload", {})})
    with pytest.raises(ContractError, match="does not match"):
        record_row({**record, "type": "collected"})
