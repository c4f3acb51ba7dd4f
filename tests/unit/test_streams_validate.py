"""The validate step's verdicts and DLQ headers; the deadline index and timer scanner."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import fastavro
import pytest

from privtrail.events import parse_event
from privtrail.scenario import colabox_scenario
from privtrail.streams.deadletter import Rejection, dlq_headers
from privtrail.streams.deadlines import (
    Clock,
    DueScanner,
    index_value,
    parse_index,
    parse_tick,
    tick_value,
)
from privtrail.streams.validate import classify
from privtrail.wire import encode_event, event_to_record, fingerprint_of
from privtrail.wire.codec import EVENT_VERSION, MAGIC

pytestmark = pytest.mark.unit

EVENT = parse_event(colabox_scenario(datetime(2025, 3, 1, tzinfo=UTC), prefix="v")[1])
GOOD = encode_event(EVENT)


def frame(record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, EVENT_VERSION.parsed, record)
    return MAGIC + EVENT_VERSION.fingerprint + out.getvalue()


def test_valid_bytes_give_the_event() -> None:
    assert classify(GOOD) == EVENT


@pytest.mark.parametrize(
    "value, kind, text",
    [
        (None, "wire", "tombstone"),
        (b"", "wire", "truncated"),
        (b"\x00\x01garbage-garbage", "wire", "bad magic"),
        (GOOD[:-3], "wire", "corrupt"),
        (
            MAGIC + fingerprint_of({"type": "record", "name": "X", "fields": []}) + GOOD[10:],
            "wire",
            "unknown schema fingerprint",
        ),
    ],
)
def test_undecodable_records_are_rejected(value: bytes | None, kind: str, text: str) -> None:
    verdict = classify(value)
    assert isinstance(verdict, Rejection)
    assert verdict.kind == kind
    assert text in verdict.reason


def test_contract_violation_names_the_field() -> None:
    record = event_to_record(EVENT)
    record["subject_id"] = None
    verdict = classify(frame(record))
    assert verdict == Rejection("contract", "required for this event type", "subject_id")


def test_dlq_headers_carry_reason_and_source() -> None:
    headers = dict(dlq_headers(Rejection("contract", "bad", "items[0]"), "t", 3, 42, 1.5))
    assert headers == {
        "privtrail.error.kind": b"contract",
        "privtrail.error.reason": b"bad",
        "privtrail.error.field": b"items[0]",
        "privtrail.source.topic": b"t",
        "privtrail.source.partition": b"3",
        "privtrail.source.offset": b"42",
        "privtrail.source.timestamp": b"1500",
    }
    assert "privtrail.error.field" not in dict(dlq_headers(Rejection("wire", "x"), "t", 0, 0, None))


def test_clock_offset_and_lateness() -> None:
    clock = Clock(offset_seconds=86400 * 11, lateness_seconds=60)
    now = datetime.now(UTC)
    assert abs((clock.now() - now) - timedelta(days=11)).total_seconds() < 5
    assert clock.now() - clock.judge_time() - timedelta(seconds=60) < timedelta(seconds=1)


def test_index_and_tick_round_trip() -> None:
    due = datetime(2025, 3, 11, 0, 7, tzinfo=UTC)
    assert parse_index(index_value(due, 2)) == (due.timestamp(), 2)
    tick_id, now = parse_tick(tick_value(due))
    assert now == due and tick_id == "tick:2025-03-11T00:07:00Z"


def test_scanner_ticks_due_subjects_of_active_partitions_once() -> None:
    now = datetime(2025, 3, 20, tzinfo=UTC)
    index = {
        b"due-p0": index_value(now - timedelta(days=1), 0),
        b"due-p1": index_value(now - timedelta(seconds=1), 1),
        b"later": index_value(now + timedelta(seconds=1), 0),
        b"exactly-now": index_value(now, 0),  # due strictly before now only
    }
    scanner = DueScanner()
    assert sorted(scanner.due(index, now, {0})) == [(b"due-p0", 0)]
    assert scanner.due(index, now, {0}) == []  # its tick is on the way
    assert scanner.due(index, now, None) == [(b"due-p1", 1)]
    # The deadline moved (the tick fired it and a new one is due): tick again.
    index[b"due-p0"] = index_value(now - timedelta(hours=1), 0)
    assert scanner.due(index, now, {0, 1}) == [(b"due-p0", 0)]
