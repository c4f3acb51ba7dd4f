"""The precompiled Avro reader against fastavro: the same value, or a fall-back to fastavro.

Whenever :mod:`privtrail.wire.reader` returns, fastavro returns the same value (same types,
same key order) at the same position: it is never more lenient. So ``read_record``, which
falls back to fastavro when it raises, behaves exactly as with fastavro alone, on valid,
truncated, corrupted and random bodies alike.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import fastavro
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_wire_properties import alerts, events

from privtrail.errors import WireError
from privtrail.wire import codec, encode_alert, encode_event
from privtrail.wire.codec import ALERT_VERSION, EVENT_VERSION, HEADER_SIZE, frame, read_record
from privtrail.wire.reader import Read, Unsupported, compile_reader, read_long
from privtrail.wire.registry import SchemaRegistry, SchemaVersion
from privtrail.wire.writer import zigzag_varint

pytestmark = pytest.mark.unit

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VERSIONS = {"event": EVENT_VERSION, "alert": ALERT_VERSION}
READERS: dict[str, Read] = {name: compile_reader(v.schema) for name, v in VERSIONS.items()}
REG = codec.REGISTRY
Outcome = tuple[Any, ...]


def fastavro_outcome(version: SchemaVersion, data: bytes, pos: int = HEADER_SIZE) -> Outcome:
    """``("ok", value, position after it)`` or ``("error", exception type name)``."""
    buf = io.BytesIO(data)
    buf.seek(pos)
    try:
        value = fastavro.schemaless_reader(
            buf, version.parsed, None, return_record_name=True, return_record_name_override=True
        )
    except Exception as exc:  # noqa: BLE001 - whatever fastavro raises is its verdict
        return ("error", type(exc).__name__)
    return ("ok", value, buf.tell())


def fast_outcome(read: Read, data: bytes, pos: int = HEADER_SIZE) -> Outcome:
    try:
        value, end = read(data, pos)
    except Exception as exc:  # noqa: BLE001 - any exception sends the caller to fastavro
        return ("error", type(exc).__name__)
    return ("ok", value, end)


def assert_same(got: Any, want: Any) -> None:
    """Equal, and the same types and key order (``True`` is not ``1``, a tuple not a list)."""
    assert got == want
    assert repr(got) == repr(want)


def decode_outcome(data: bytes, v: SchemaVersion, reg: SchemaRegistry, ref: bool) -> Outcome:
    """``read_record``'s ``("ok", record, repr)`` or ``("error", type, message)``.

    ``ref``: the reference, fastavro alone (``_fast_reader`` then finds a cached None).
    ``patch.dict`` also drops, on exit, the readers ``_fast_reader`` cached meanwhile.
    """
    with patch.dict(codec._FAST_READ, {v.fingerprint: None} if ref else {}):
        try:
            record = read_record(data, v.name, v, reg)
        except WireError as exc:
            # fastavro may name its BytesIO ("... from <_io.BytesIO object at 0x7f...>")
            return ("error", type(exc).__name__, re.sub(r" at 0x[0-9a-f]+", "", str(exc)))
    return ("ok", record, repr(record))


def same_as_fastavro_alone(data: bytes, v: SchemaVersion, reg: SchemaRegistry = REG) -> Outcome:
    """``read_record``'s outcome, asserted equal to the fastavro-only reference's."""
    got = decode_outcome(data, v, reg, False)
    assert got == decode_outcome(data, v, reg, True)
    return got


def check_invariant(v: SchemaVersion, read: Read, data: bytes, reg: SchemaRegistry = REG) -> None:
    """The invariant, on any bytes: never more lenient, never a different value."""
    fast = fast_outcome(read, data)
    event(f"compiled reader: {fast[0]}")  # --hypothesis-show-statistics: not all errors
    if fast[0] == "ok":
        assert_same(fast, fastavro_outcome(v, data))
    same_as_fastavro_alone(data, v, reg)


# --- 1. Valid messages -------------------------------------------------------------------


def _check_valid(version: SchemaVersion, data: bytes) -> None:
    expected = fastavro_outcome(version, data)
    assert expected[0] == "ok" and expected[2] == len(data)
    assert_same(fast_outcome(READERS[version.name], data), expected)
    assert_same(same_as_fastavro_alone(data, version)[1], expected[1])


def test_the_codec_uses_the_compiled_reader_and_the_reference_does_not() -> None:
    for version in VERSIONS.values():
        assert codec._fast_reader(version) is not None
        with patch.dict(codec._FAST_READ, {version.fingerprint: None}):
            assert codec._fast_reader(version) is None
        assert codec._fast_reader(version) is not None


@given(events)
@_SETTINGS
def test_every_event_reads_as_fastavro_reads_it(event: Any) -> None:
    _check_valid(EVENT_VERSION, encode_event(event))


@given(alerts)
@_SETTINGS
def test_every_alert_reads_as_fastavro_reads_it(alert: Any) -> None:
    _check_valid(ALERT_VERSION, encode_alert(alert))


# --- 2. Truncated, corrupted and random bodies -------------------------------------------


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid event or alert message with its body cut, altered or extended."""
    name = draw(st.sampled_from(["event", "alert"]))
    data = encode_event(draw(events)) if name == "event" else encode_alert(draw(alerts))
    body = bytearray(data[HEADER_SIZE:])
    kind = draw(st.sampled_from(["truncate", "flip", "replace", "insert", "append"]))
    if kind == "truncate":
        del body[draw(st.integers(0, len(body) - 1)) :]
    elif kind in ("flip", "replace"):
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(body) - 1))
            if kind == "flip":
                body[i] ^= 1 << draw(st.integers(0, 7))
            else:
                body[i] = draw(st.integers(0, 255))
    elif kind == "insert":
        i = draw(st.integers(0, len(body)))
        body[i:i] = draw(st.binary(min_size=1, max_size=4))
    else:
        body += draw(st.binary(min_size=1, max_size=8))
    return name, data[:HEADER_SIZE] + bytes(body)


@given(corrupted())
@_SETTINGS
def test_corrupted_messages_never_read_differently(case: tuple[str, bytes]) -> None:
    name, data = case
    check_invariant(VERSIONS[name], READERS[name], data)


@given(st.sampled_from(["event", "alert"]), st.binary(max_size=300))
@_SETTINGS
def test_random_bodies_never_read_differently(name: str, body: bytes) -> None:
    version = VERSIONS[name]
    check_invariant(version, READERS[name], frame(version.fingerprint, body))


# --- 3. Encodings the compiled reader leaves to fastavro ---------------------------------


def _record(name: str, *fields: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return dict(type="record", name=name, fields=[dict(name=n, type=t) for n, t in fields], **extra)


_ENUM = {"type": "enum", "name": "Level", "symbols": ["low", "high"]}
_TS = {"type": "long", "logicalType": "timestamp-micros"}
_STRINGS = {"type": "array", "items": "string"}
_LONGS = {"type": "array", "items": "long"}

# (id, field type, body, what the compiled reader raises; None: both read it)
_EDGES: list[tuple[str, Any, bytes, type[Exception] | None]] = [
    ("boolean_byte_2", "boolean", b"\x02", Unsupported),  # fastavro: True
    ("varint_10_bytes", "long", zigzag_varint(2**63 - 1), Unsupported),  # fastavro reads it
    ("varint_10_bytes_zero", "long", b"\x80" * 9 + b"\x00", Unsupported),
    ("varint_11_bytes", "long", b"\x80" * 10 + b"\x00", Unsupported),
    ("varint_past_the_end", "long", b"\x80", IndexError),
    ("negative_string_length", "string", b"\x03ab", Unsupported),
    ("string_past_the_end", "string", b"\x0aab", Unsupported),
    ("invalid_utf8", "string", b"\x04\xff\xfe", UnicodeDecodeError),
    ("union_index_2", ["null", "string"], b"\x04\x02a", Unsupported),
    ("union_index_negative", ["null", "string"], b"\x01", Unsupported),
    ("union_index_non_canonical", ["null", "string"], b"\x82\x00\x02a", Unsupported),
    ("enum_index_2", _ENUM, b"\x04", Unsupported),
    ("enum_index_negative", _ENUM, b"\x01", Unsupported),  # fastavro: symbols[-1]
    ("array_byte_count_strings", _STRINGS, b"\x03\x08\x02a\x02b\x00", Unsupported),
    ("array_byte_count_longs", _LONGS, b"\x03\x04\x02\x04\x00", Unsupported),
    ("timestamp_after_9999", _TS, zigzag_varint(2**61), OverflowError),
    ("timestamp_before_year_1", _TS, zigzag_varint(-(2**61)), OverflowError),
    ("non_canonical_length_0", "string", b"\x80\x00", None),
    ("non_canonical_length_2", "string", b"\x84\x00ab", None),
    ("non_canonical_enum_index", _ENUM, b"\x82\x00", None),
    ("non_canonical_array_end", _STRINGS, b"\x02\x02a\x80\x00", None),
]


def probe(field_type: Any, body: bytes, in_array: bool) -> tuple[SchemaVersion, bytes]:
    """A one-field record schema and a message of it; in an array, read by the array readers."""
    if in_array:
        field_type, body = {"type": "array", "items": field_type}, b"\x02" + body + b"\x00"
    version = SchemaVersion.build("probe", 1, _record("Probe", ("f", field_type)))
    return version, frame(version.fingerprint, body)


@pytest.mark.parametrize("in_array", [False, True], ids=["field", "array_item"])
@pytest.mark.parametrize(
    ("field_type", "body", "raises"), [pytest.param(*c[1:], id=c[0]) for c in _EDGES]
)
def test_edge_encodings_go_to_fastavro(
    field_type: Any, body: bytes, raises: type[Exception] | None, in_array: bool
) -> None:
    version, data = probe(field_type, body, in_array)
    read = compile_reader(version.schema)
    if raises is None:
        expected = fastavro_outcome(version, data)
        assert expected[0] == "ok" and expected[2] == len(data)
        assert_same(fast_outcome(read, data), expected)
    else:
        with pytest.raises(raises):
            read(data, HEADER_SIZE)
    same_as_fastavro_alone(data, version, SchemaRegistry([version]))


_FUZZED = [
    *{repr(c[1]): c[1] for c in _EDGES}.values(),
    [_record("A", ("s", "string")), _record("B", ("b", "boolean"))],
]


@given(st.sampled_from(_FUZZED), st.booleans(), st.binary(max_size=12))
@_SETTINGS
def test_random_bodies_of_small_schemas_never_read_differently(
    field_type: Any, in_array: bool, body: bytes
) -> None:
    """Every reader (inline in a record, or in an array) on arbitrary bytes."""
    version, data = probe(field_type, body, in_array)
    check_invariant(version, compile_reader(version.schema), data, SchemaRegistry([version]))


# --- 4. read_long --------------------------------------------------------------------------

# zig-zag of n needs 10 bytes when it is 2**63 or more: n >= 2**62 or n < -(2**62).
_TEN_BYTES = {2**62, 2**63 - 1, -(2**63)}


@pytest.mark.parametrize(
    "n",
    [0, 1, -1, 63, -63, 64, -64, 2**31, -(2**31), 2**62 - 1, 2**62, -(2**62), -(2**63), 2**63 - 1],
)
def test_read_long_against_the_spec(n: int) -> None:
    encoded = zigzag_varint(n)
    assert (len(encoded) == 10) == (n in _TEN_BYTES)
    data = b"\xaa" + encoded + b"\x55"
    if n in _TEN_BYTES:
        with pytest.raises(Unsupported):
            read_long(data, 1)
        return
    assert read_long(data, 1) == (n, 1 + len(encoded))
    buf = io.BytesIO(encoded)
    assert fastavro.schemaless_reader(buf, "long", None) == n


def test_read_long_known_bytes() -> None:
    assert read_long(b"\x00", 0) == (0, 1)
    assert read_long(b"\x01", 0) == (-1, 1)
    assert read_long(b"\x7f", 0) == (-64, 1)
    assert read_long(b"\x80\x01", 0) == (64, 2)
    assert read_long(b"\xff" * 8 + b"\x7f", 0) == (-(2**62), 9)
    with pytest.raises(IndexError):
        read_long(b"\x80\x80", 0)


# --- 5. Schemas ----------------------------------------------------------------------------

_REC = _record("Rec", ("x", "long"))


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "fixed", "name": "F", "size": 4},
        {"type": "map", "values": "string"},
        *("bytes", "double", "float", "int"),  # not in _PRIMITIVES: unknown names
        {"type": "bytes"},
        ["string", "null"],
        ["null", "string", "long"],
        [_REC, "string"],
        {"type": "long", "logicalType": "timestamp-millis"},
        {"type": "string", "logicalType": "uuid"},
        _record("R", ("f", "Undefined")),
        _record("R", ("f", ["null", "R"])),  # recursive
        _record("R", ("a", _ENUM), ("b", _ENUM)),  # Level defined twice
    ],
    ids=lambda s: str(s)[:40],
)
def test_schemas_it_does_not_compile_are_refused(schema: Any) -> None:
    with pytest.raises(Unsupported):
        compile_reader(schema)


_NESTED = _record(
    "Outer",
    ("kind", {"type": "enum", "name": "Kind", "symbols": ["alpha", "beta", "gamma"]}),
    ("first", _record("Part", ("label", "string"), ("flag", "boolean"), ("tag", ["null", "Kind"]))),
    ("second", "Part"),
    ("again", "ns.Kind"),
    ("parts", {"type": "array", "items": "Part"}),
    ("maybe", ["null", "Part"]),
    ("extra", ["null", {**_REC, "namespace": "other"}]),
    (
        "either",
        [_record("Left", ("at", _TS)), _record("Right", ("labels", _STRINGS), namespace="side")],
    ),
    ("optional_labels", {"type": "array", "items": ["null", "string"]}),
    namespace="ns",
)
_FULL = {
    "kind": "beta",
    "first": {"label": "cat_a", "flag": True, "tag": "gamma"},
    "second": {"label": "", "flag": False, "tag": None},
    "again": "alpha",
    "parts": [{"label": "cat_ü" * 40, "flag": False, "tag": "beta"}] * 3,
    "maybe": {"label": "cat_d", "flag": True, "tag": "alpha"},
    "extra": {"x": -300},
    "either": ("ns.Left", {"at": datetime(2025, 3, 1, 12, 0, 0, 7, tzinfo=UTC)}),
    "optional_labels": ["cat_e", None, ""],
}
_SPARSE = {**_FULL, "parts": [], "maybe": None, "extra": None, "optional_labels": []}
_SPARSE["either"] = ("side.Right", {"labels": ["cat_g", "cat_h"]})


@pytest.mark.parametrize("record", [_FULL, _SPARSE], ids=["full", "sparse"])
def test_nested_named_types_and_references_read_like_fastavro(record: dict[str, Any]) -> None:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(_NESTED), record)
    data = out.getvalue()
    version = SchemaVersion.build("nested", 1, _NESTED)
    expected = fastavro_outcome(version, data, 0)
    assert expected[0] == "ok" and expected[2] == len(data)
    assert_same(fast_outcome(compile_reader(_NESTED), data, 0), expected)
    assert expected[1]["maybe"] == record["maybe"]  # ["null", record]: the plain record
    assert expected[1]["either"] == record["either"]  # two records: (full name, record)


def test_a_single_record_union_is_left_to_fastavro() -> None:
    # fastavro (override) reads it as the plain record, {"u": {"x": 2}}, and a union
    # naming a type by reference as (name, value): shapes the reader does not compile.
    schema = _record("Holder", ("u", [_REC]))
    with pytest.raises(Unsupported):
        compile_reader(schema)
    version = SchemaVersion.build("single", 1, schema)
    data = frame(version.fingerprint, b"\x00\x04")  # branch 0, x = 2
    assert same_as_fastavro_alone(data, version, SchemaRegistry([version]))[1] == {"u": {"x": 2}}
    by_name = _record("Ref", ("a", _REC), ("b", [_record("Other", ("y", "long")), "Rec"]))
    with pytest.raises(Unsupported):
        compile_reader(by_name)


def test_a_top_level_non_record_is_refused_as_by_fastavro_alone() -> None:
    version = SchemaVersion.build("top", 1, ["null", "string"])  # not a released shape
    data = frame(version.fingerprint, b"\x00")
    same_as_fastavro_alone(data, version, SchemaRegistry([version]))


# --- 6. Other buffer types -----------------------------------------------------------------


def test_memoryview_and_bytearray_read_the_same(ev: Any) -> None:
    used = ev("used", items=["contact_info"], purpose="support", operation="view", reason="r")
    data = encode_event(used)
    want = same_as_fastavro_alone(data, EVENT_VERSION)
    assert want[0] == "ok"
    for other in (memoryview(data), bytearray(data)):
        assert same_as_fastavro_alone(other, EVENT_VERSION) == want  # type: ignore[arg-type]
    value, end = READERS["event"](bytearray(data), HEADER_SIZE)
    assert_same(value, want[1])
    assert end == len(data)
