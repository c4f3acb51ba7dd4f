"""``sinks.avroread.read_event_record`` answers exactly as fastavro's ``read_record`` does.

For generated events of every type the generated decoder itself must return the same record
(not just the fallback); for corrupted copies (bytes flipped, cut, appended) the result or the
error must be ``read_record``'s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_wire_properties import events

from privtrail.errors import WireError
from privtrail.sinks import avroread
from privtrail.sinks.avroread import compile_decoder, read_event_record
from privtrail.wire import encode_event
from privtrail.wire.codec import EVENT_VERSION, HEADER_SIZE, frame, read_record

pytestmark = pytest.mark.unit

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reference(data: bytes) -> Any:
    try:
        return read_record(data, "event", EVENT_VERSION)
    except WireError as exc:
        return ("error", str(exc))


def _fast(data: bytes) -> Any:
    try:
        return read_event_record(data)
    except WireError as exc:
        return ("error", str(exc))


def _same(mine: Any, theirs: Any) -> None:
    assert mine == theirs
    if isinstance(mine, dict):
        for key in ("occurred_at",):
            assert type(mine[key]) is type(theirs[key])
            assert mine[key].tzinfo is UTC


@_SETTINGS
@given(events)
def test_the_generated_decoder_reads_what_fastavro_reads(event: Any) -> None:
    data = encode_event(event)
    assert avroread._decode is not None
    direct = avroread._decode(data, HEADER_SIZE)  # not the fallback
    _same(direct, read_record(data, "event", EVENT_VERSION))
    _same(read_event_record(data), direct)


@_SETTINGS
@given(events, st.data())
def test_corrupted_bytes_decode_or_fail_as_in_fastavro(event: Any, data: st.DataObject) -> None:
    good = bytearray(encode_event(event))
    how = data.draw(st.sampled_from(["flip", "cut", "append", "set"]))
    if how == "flip":
        at = data.draw(st.integers(HEADER_SIZE, len(good) - 1))
        good[at] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "cut":
        del good[data.draw(st.integers(HEADER_SIZE, len(good) - 1)) :]
    elif how == "append":
        good += data.draw(st.binary(min_size=1, max_size=4))
    else:
        at = data.draw(st.integers(HEADER_SIZE, len(good) - 1))
        good[at] = data.draw(st.sampled_from([0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF]))
    bad = bytes(good)
    _same(_fast(bad), _reference(bad))


def test_long_varints_and_negative_array_blocks() -> None:
    schema = {
        "type": "record",
        "name": "T",
        "namespace": "privtrail",
        "fields": [
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "xs", "type": {"type": "array", "items": "string"}},
            {"name": "s", "type": "string"},
            {"name": "flag", "type": "boolean"},
        ],
    }
    decode = compile_decoder(schema)
    micros = 1_780_000_000_123_456  # a 7-byte varint

    def zigzag(n: int) -> bytes:
        z, out = (n << 1) ^ (n >> 63), bytearray()
        while z >= 0x80:
            out.append(z & 0x7F | 0x80)
            z >>= 7
        return bytes(out + bytes([z]))

    long_text = "é" * 100  # a two-byte length
    body = (
        zigzag(micros)
        + zigzag(-2)  # a block of two items, with its size in bytes
        + zigzag(4)
        + zigzag(1)
        + b"a"
        + zigzag(1)
        + b"b"
        + zigzag(1)
        + zigzag(1)
        + b"c"
        + zigzag(0)
        + zigzag(len(long_text.encode()))
        + long_text.encode()
        + b"\x01"
    )
    record = decode(b"\x00" * 10 + body, 10)
    assert record == {
        "at": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros),
        "xs": ["a", "b", "c"],
        "s": long_text,
        "flag": True,
    }


def test_other_fingerprints_never_reach_the_generated_decoder(
    monkeypatch: pytest.MonkeyPatch, ev: Any
) -> None:
    def refuse(data: bytes, at: int) -> dict[str, Any]:
        raise AssertionError("called for a message of another schema version")

    body = encode_event(ev.use())[HEADER_SIZE:]
    other = frame(b"\x01" * 8, body)  # a fingerprint no released version has
    expected = _reference(other)
    monkeypatch.setattr(avroread, "_decode", refuse)
    assert _fast(other) == expected
    assert expected[0] == "error"


def test_short_and_foreign_messages_raise_the_usual_errors() -> None:
    for data in (b"", b"\xc3", b"\xc3\x01" + b"\x00" * 8, b"\x00" * 40):
        assert _fast(data) == _reference(data)
        assert _fast(data)[0] == "error"
