"""Event rows straight from the Avro record form: no pydantic models, no JSON round trip.

The sink's reference path is bytes -> record -> typed event (``decode_event_trusted``) ->
JSON form (``to_json``) -> canonical JSON -> typed column values parsed back out of the JSON
form. Each step allocates and converts again; together they were about three quarters of the
sink's CPU per event. :func:`record_row` goes from the record fastavro returns to the same two
results in one generated function per payload branch:

* the canonical JSON text (sorted keys, compact, ``ensure_ascii=False``), assembled from
  fragments whose key order is fixed when the function is generated, with every string
  escaped by the very function ``json.dumps`` uses (``json.encoder.encode_basestring``);
* the typed values of :data:`~privtrail.sinks.rows.EVENT_FIELDS`, taken from the record
  (datetimes as fastavro read them, normalised to UTC) instead of parsed back from text,
  as a tuple, with the array columns as tuples too. A tuple holding only strings, numbers,
  bytes and datetimes is untracked by CPython's cyclic collector at its first pass, so the
  tens of thousands of rows a batch buffers cost the collector nothing; as lists they were
  traversed again by every collection, which cost more than building them.

Both are byte-for-byte / value-for-value what :func:`~privtrail.sinks.rows.event_row` gives for
the same bytes (arrays as tuples instead of lists: the same values for ClickHouse), so the
Merkle leaf, ``event_json`` and the typed columns are unchanged
(``tests/unit/test_sink_fastrow.py`` checks that with Hypothesis on every event type). The
generated functions follow the current event schema (the record form readers resolve to); if
that schema ever holds a field type this module does not know, :data:`SUPPORTED` is False and
the sink keeps the reference path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from privtrail.errors import ContractError
from privtrail.events import format_timestamp
from privtrail.sinks.rows import EVENT_FIELDS, FieldMap, parse_timestamp
from privtrail.wire import EVENT_SCHEMA
from privtrail.wire.records import BRANCHES

RowFunction = Callable[[dict[str, Any], dict[str, Any]], tuple[str, tuple[Any, ...]]]


class _Unsupported(Exception):
    """The schema holds something the generator does not handle (use the reference path)."""


def utc(value: datetime) -> datetime:
    """A record timestamp as the contract holds it: aware, in UTC (naive is refused).

    The same normalisation as the trusted decoder's; fastavro already returns UTC datetimes,
    so this is normally the identity.
    """
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ContractError("", "timestamp must carry a time zone")
    return value.astimezone(UTC)


def timestamp_json(value: datetime) -> str:
    """``'"' + format_timestamp(value) + '"'`` for a UTC datetime, without ``strftime``.

    ``isoformat`` is several times cheaper and spells the same digits for years 1000 and
    later; earlier years (where ``%Y`` is not zero-padded on every platform) take
    ``format_timestamp`` itself.
    """
    if value.year >= 1000:
        # "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00": microseconds only when non-zero, as in
        # format_timestamp; the offset of a UTC datetime is always "+00:00".
        return '"' + value.isoformat()[:-6] + 'Z"'
    return '"' + format_timestamp(value) + '"'


def typed_timestamp(value: datetime) -> datetime:
    """The typed column value of a UTC timestamp: what ``parse_timestamp`` reads back from
    its JSON text. That is the datetime itself, except for years before 1000, whose text
    ``parse_timestamp`` refuses: let it refuse here too, so nothing behaves differently."""
    if value.year >= 1000:
        return value
    return parse_timestamp(format_timestamp(value))


def _kind(avro_type: Any) -> tuple[str, bool]:
    """(value kind, nullable) of an Avro field type: str, list, ts, bool or record."""
    nullable = False
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        if len(rest) != 1 or len(avro_type) != 2:
            raise _Unsupported(f"union {avro_type!r}")
        nullable, avro_type = True, rest[0]
    if avro_type == "string":
        return "str", nullable
    if avro_type == "boolean":
        return "bool", nullable
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "enum":
            return "str", nullable
        if kind == "array" and avro_type.get("items") == "string":
            return "list", nullable
        if kind == "long" and avro_type.get("logicalType") == "timestamp-micros":
            return "ts", nullable
        if kind == "record":
            return "record", nullable
    raise _Unsupported(f"field type {avro_type!r}")


class _Generator:
    """Source text of one branch's row function (see :func:`_compile`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def var(self, expr: str) -> str:
        """Bind ``expr`` to a fresh local (evaluated once, in field order)."""
        self.count += 1
        name = f"v{self.count}"
        self.lines.append(f"    {name} = {expr}")
        return name

    def value_json(self, kind: str, name: str) -> str:
        """Expression for the JSON text of the (non-None) scalar or list bound to ``name``."""
        if kind == "str":
            return f"esc({name})"
        if kind == "list":
            return f"('[' + ','.join(map(esc, {name})) + ']')"
        if kind == "ts":
            return f"ts_json({name})"
        if kind == "bool":
            return f"('true' if {name} else 'false')"
        raise _Unsupported(f"value kind {kind}")

    def fields(
        self, source: dict[str, str], fields: list[dict[str, Any]], path: tuple[str, ...] = ()
    ) -> tuple[list[Piece], dict[tuple[str, ...], tuple[str, str]]]:
        """Bind every field to a local and return (the pieces of the object's canonical JSON,
        {field path: (local, kind)}). ``source`` names the local each field is read from (the
        header from the record, payload fields from the payload). Keys come in sorted order
        and ``None`` values are left out (``exclude_none``).

        The comma rule is settled here, not at run time: fields before the first required one
        are optional and carry their comma after them; the first required one has none; every
        later one carries it before. Nested records are inlined, so one ``join`` builds it all.
        """
        bound: dict[tuple[str, ...], tuple[str, str]] = {}
        entries: list[tuple[str, list[Piece], str | None]] = []  # (key, value, local if optional)
        for f in sorted(fields, key=lambda f: str(f["name"])):
            key = str(f["name"])
            kind, nullable = _kind(f["type"])
            name = self.var(f"{source[key]}[{key!r}]")
            if kind == "ts":
                name = self.var(f"_opt(utc, {name})" if nullable else f"utc({name})")
            if kind == "record":
                if nullable:
                    raise _Unsupported(f"nullable record {key!r}")
                inner = f["type"]["fields"]
                value, sub = self.fields({str(g["name"]): name for g in inner}, inner, (*path, key))
                bound.update(sub)
            else:
                value = [(False, self.value_json(kind, name))]
                bound[(*path, key)] = (name, kind)
            entries.append((key, value, name if nullable else None))
        first = next((n for n, (_, _, optional) in enumerate(entries) if optional is None), None)
        if first is None:
            raise _Unsupported("an object without a required field")
        pieces: list[Piece] = [(True, "{")]
        for n, (key, value, optional) in enumerate(entries):
            label = encode_basestring(key) + ":"
            if optional is None:
                pieces.append((True, label if n == first else "," + label))
                pieces.extend(value)
            else:
                text = _concat(value)
                fragment = f"{label!r} + {text} + ','" if n < first else f"{',' + label!r} + {text}"
                pieces.append((False, f"('' if {optional} is None else {fragment})"))
        pieces.append((True, "}"))
        return pieces, bound


Piece = tuple[bool, str]
"""Part of a generated JSON text: (True, constant text) or (False, a Python expression)."""


def _concat(pieces: list[Piece]) -> str:
    """One expression joining ``pieces``, adjacent constants merged at generation time."""
    exprs: list[str] = []
    const = ""
    for is_const, text in pieces:
        if is_const:
            const += text
            continue
        if const:
            exprs.append(repr(const))
            const = ""
        exprs.append(text)
    if const:
        exprs.append(repr(const))
    if len(exprs) == 1:
        return exprs[0]
    return f"''.join(({', '.join(exprs)},))"


def _field_types(schema: Any) -> dict[str, Any]:
    return {str(f["name"]): f for f in schema["fields"]}


def _compile(branch_fields: list[dict[str, Any]], header: list[dict[str, Any]]) -> RowFunction:
    """One function ``(record, payload) -> (canonical JSON text, typed values)`` for a branch.

    The record's header fields and the branch's payload fields make up the JSON form's top
    level (payload fields flattened in, as the typed event has them).
    """
    source = {str(f["name"]): "r" for f in header}
    for f in branch_fields:
        if str(f["name"]) in source:
            raise _Unsupported(f"payload field {f['name']!r} shadows a header field")
        source[str(f["name"])] = "p"
    gen = _Generator()
    pieces, bound = gen.fields(source, [*header, *branch_fields])
    canonical = _concat(pieces)
    values = [_typed(fm, bound.get(fm.path), fm.path[0] in source) for fm in EVENT_FIELDS]
    text = "def row(r, p):\n" + "\n".join(gen.lines) + "\n"
    text += f"    return {canonical}, ({', '.join(values)},)\n"
    namespace: dict[str, Any] = {
        "esc": encode_basestring,
        "ts_json": timestamp_json,
        "typed_ts": typed_timestamp,
        "utc": utc,
        "_opt": _opt,
    }
    exec(compile(text, "<fastrow>", "exec"), namespace)  # noqa: S102 (our own code)
    row: RowFunction = namespace["row"]
    return row


# What the reference path (rows.typed_values) makes of a field absent from the JSON form.
_ABSENT = {"str": "''", "array": "()", "nullable_ts": "None", "nullable_bool": "None"}
# Column kind -> (record value kind it needs, expression template for the typed value).
_TYPED = {
    "str": ("str", "({} or '')"),
    "array": ("list", "tuple({} or ())"),
    "ts": ("ts", "typed_ts({})"),
    "nullable_ts": ("ts", "_opt(typed_ts, {})"),
    "nullable_bool": ("bool", "_opt(bool, {})"),
}


def _typed(fm: FieldMap, found: tuple[str, str] | None, top_level_known: bool) -> str:
    """Expression for the typed value of column ``fm`` in a branch's row function."""
    if found is None:
        if len(fm.path) == 1 and top_level_known or fm.kind not in _ABSENT:
            raise _Unsupported(f"column {fm.column} does not map onto this branch")
        return _ABSENT[fm.kind]
    name, kind = found
    need, template = _TYPED[fm.kind]
    if kind != need:
        raise _Unsupported(f"column {fm.column} is a {fm.kind}, the field a {kind}")
    return template.format(name)


def _opt(convert: Any, value: Any) -> Any:
    return None if value is None else convert(value)


def _build() -> dict[str, tuple[str, RowFunction]]:
    fields = _field_types(EVENT_SCHEMA)
    header = [f for name, f in fields.items() if name != "payload"]
    union = fields["payload"]["type"]
    by_name = {f"privtrail.{str(r['name']).rpartition('.')[2]}": r for r in union}
    out = {}
    for branch in BRANCHES:
        if branch.cls is None:
            raise _Unsupported(f"payload {branch.name} has no event type")
        model = set(branch.cls.model_fields)
        record = by_name[branch.name]
        if model != {str(f["name"]) for f in header} | set(branch.fields):
            raise _Unsupported(f"{branch.event_type}: model and schema fields differ")
        out[branch.name] = (branch.event_type, _compile(record["fields"], header))
    return out


try:
    _ROWS = _build()
    SUPPORTED = True
except _Unsupported:  # pragma: no cover - only on a schema this module was not written for
    _ROWS = {}
    SUPPORTED = False


def record_row(record: dict[str, Any]) -> tuple[str, str, tuple[Any, ...]]:
    """``(event_id, canonical JSON text, typed values)`` of one event in its record form.

    For a record read from already validated bytes (``privacy.events.valid``), like
    ``decode_event_trusted``: the same refusals (an unknown payload branch, a ``type`` that
    does not match it, a naive timestamp) as :class:`ContractError`, and no contract checks.
    """
    name, payload = record["payload"]
    found = _ROWS.get(name)
    if found is None:
        raise ContractError("payload", f"unknown payload branch {name!r}")
    kind, row = found
    if record["type"] != kind:
        raise ContractError("type", f"{record['type']!r} does not match the payload branch {name}")
    canonical, values = row(record, payload)
    return record["event_id"], canonical, values


__all__ = ["SUPPORTED", "record_row", "timestamp_json", "typed_timestamp", "utc"]
