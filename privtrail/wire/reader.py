"""A precompiled Avro binary reader: the values fastavro reads, at a fraction of the cost.

``fastavro.schemaless_reader`` walks the parsed schema for every message (a dispatch per
field, a ``BytesIO`` read per value), which made reading the body the largest single cost
of decoding an event in the stream worker (about 9 us of 15). :func:`compile_reader`
walks a schema once and returns a function made of generated code, one function per
record, that reads the fields straight out of the ``bytes``.

It is the mirror of :mod:`privtrail.wire.writer`, and as deliberately narrow. It only
reads a message with the schema it was written with (no schema resolution), only the
schema features the bundled schemas use (records, enums, strings, booleans, longs,
``timestamp-micros``, arrays, ``["null", X]`` unions and unions of two or more inline
records), and
only the canonical, well-formed encodings of those. Anything else (a schema feature it
does not know, at compile time; a negative length, a block-encoded array with a byte
count, a union or enum index out of range, a varint over nine bytes, a string running
past the end, invalid UTF-8, at read time) raises :class:`Unsupported`. Callers then read
the message again with fastavro, which either reads it or raises its own error, so the
outcome never differs; only the fast path's speed does.
``tests/unit/test_wire_reader.py`` checks that against fastavro, on valid messages and on
truncated and corrupted ones.

The values are those of ``schemaless_reader(..., return_record_name=True,
return_record_name_override=True)``: records are dicts in field order, a union of named
records gives ``(full name, record)``, and ``["null", X]`` gives None or the plain value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from privtrail.wire.compiling import SchemaCompiler, Unsupported

Read = Callable[[bytes, int], tuple[Any, int]]
"""``read(data, pos) -> (value, position after it)``."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # fastavro's epoch: it adds a timedelta to it


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """Avro's ``long``: a zig-zag, base-128 little-endian varint of at most nine bytes."""
    b = data[pos]  # IndexError past the end
    pos += 1
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        if shift > 56:
            # Over 63 bits: fastavro's C reader keeps 64 and drops the rest; not guessed.
            raise Unsupported("varint over nine bytes")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos


# Source lines reading a string into ``v`` (``data``, ``pos`` and ``size`` in scope): a
# length under 64 is one byte, the commonest case by far, read without a call.
_STRING_LINES = (
    "b = data[pos]",
    "if b < 0x80 and not b & 1:",
    "    n = b >> 1",
    "    pos += 1",
    "else:",
    "    n, pos = read_long(data, pos)",
    "    if n < 0:",
    "        raise Unsupported('negative length')",
    "end = pos + n",
    "if end > size:",
    "    raise Unsupported('string past the end')",
    "v = data[pos:end].decode()",  # UnicodeDecodeError: fastavro decides
    "pos = end",
)


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    size = len(data)
    b = data[pos]
    if b < 0x80 and not b & 1:
        n = b >> 1
        pos += 1
    else:
        n, pos = read_long(data, pos)
        if n < 0:
            raise Unsupported("negative length")
    end = pos + n
    if end > size:
        raise Unsupported("string past the end")
    return data[pos:end].decode(), end


def _read_boolean(data: bytes, pos: int) -> tuple[bool, int]:
    b = data[pos]
    if b > 1:
        raise Unsupported("boolean byte other than 0 or 1")  # fastavro reads it as True
    return b == 1, pos + 1


def _read_null(data: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _read_timestamp_micros(data: bytes, pos: int) -> tuple[datetime, int]:
    micros, pos = read_long(data, pos)
    return _EPOCH + timedelta(microseconds=micros), pos  # OverflowError: fastavro decides


_PRIMITIVES: dict[str, Read] = {
    "string": _read_string,
    "long": read_long,
    "boolean": _read_boolean,
    "null": _read_null,
}
_LOGICAL: dict[tuple[str, str], Read] = {("long", "timestamp-micros"): _read_timestamp_micros}


def _optional(inner: Read) -> Read:
    """The reader of ``["null", X]`` from X's: None or the plain value."""

    def read_optional(data: bytes, pos: int) -> tuple[Any, int]:
        b = data[pos]
        if b == 0:
            return None, pos + 1
        if b != 2:
            raise Unsupported("union index out of range")
        return inner(data, pos + 1)

    return read_optional


# The commonest union; also the marker by which record readers inline it.
_read_optional_string = _optional(_read_string)


class _Compiler(SchemaCompiler[Read]):
    """Builds the reader of each schema node (the walk is :class:`SchemaCompiler`'s)."""

    primitives = _PRIMITIVES
    logical = _LOGICAL

    def record(self, name: str, fields: tuple[tuple[str, Read], ...]) -> Read:
        return _record_reader(name, fields)

    def enum(self, symbols: tuple[str, ...]) -> Read:
        count = len(symbols)

        def read_enum(data: bytes, pos: int) -> tuple[str, int]:
            b = data[pos]
            if b < 0x80 and not b & 1 and (b >> 1) < count:
                return symbols[b >> 1], pos + 1
            index, pos = read_long(data, pos)
            if not 0 <= index < count:
                raise Unsupported("enum index out of range")
            return symbols[index], pos

        return read_enum

    def array(self, item: Read) -> Read:
        def read_array(data: bytes, pos: int) -> tuple[list[Any], int]:
            out: list[Any] = []
            while True:
                count, pos = read_long(data, pos)
                if count == 0:
                    return out, pos
                if count < 0:
                    raise Unsupported("array block with a byte count")
                for _ in range(count):
                    value, pos = item(data, pos)
                    out.append(value)

        return read_array

    def union(self, schema: list[Any], namespace: str | None) -> Read:
        # fastavro returns a union's value plain, or as (name, value) when the branch is
        # a record and the union has more than one, or a named type referenced by name.
        # Only the shapes below are compiled; any other union is fastavro's.
        named = [b for b in schema if isinstance(b, dict) and b.get("type") == "record"]
        if len(schema) == 2 and schema[0] == "null" and len(named) <= 1:
            # ["null", X]: None or the plain value (a single record too: the override,
            # whether inline or referenced by name)
            inner = self.compile(schema[1], namespace)
            return _read_optional_string if inner is _read_string else _optional(inner)
        # Unions of two or more inline records, read as (full name, record): the payload.
        # (A branch referenced by name is not counted: fastavro's answer is its own.)
        if len(named) != len(schema) or len(named) < 2:
            raise Unsupported("union other than [null, X] or of two or more inline records")
        branches: list[tuple[str, Read]] = []
        for branch in schema:
            read = self.compile(branch, namespace)
            name = self.full_name(str(branch["name"]), branch.get("namespace", namespace))
            branches.append((name, read))
        table = tuple(branches)
        count = len(table)

        def read_tagged(data: bytes, pos: int) -> tuple[tuple[str, Any], int]:
            index, pos = read_long(data, pos)
            if not 0 <= index < count:
                raise Unsupported("union index out of range")
            name, read = table[index]
            value, pos = read(data, pos)
            return (name, value), pos

        return read_tagged


def _record_reader(name: str, fields: tuple[tuple[str, Read], ...]) -> Read:
    """One generated function per record: string fields read inline, the rest by call.

    Field names go into the generated source as ``repr`` literals, never as code.
    """
    lines = ["def read_record(data, pos):", "    size = len(data)"]
    env: dict[str, Any] = {"Unsupported": Unsupported, "read_long": read_long}
    for i, (_, read) in enumerate(fields):
        if read is _read_string:
            lines += [f"    {line}" for line in _STRING_LINES]
            lines.append(f"    v{i} = v")
        elif read is _read_optional_string:
            lines += [
                "    b = data[pos]",
                "    if b == 0:",
                f"        v{i} = None",
                "        pos += 1",
                "    elif b == 2:",
                "        pos += 1",
            ]
            lines += [f"        {line}" for line in _STRING_LINES]
            lines += [
                f"        v{i} = v",
                "    else:",
                "        raise Unsupported('union index out of range')",
            ]
        else:
            env[f"r{i}"] = read
            lines.append(f"    v{i}, pos = r{i}(data, pos)")
    items = ", ".join(f"{field!r}: v{i}" for i, (field, _) in enumerate(fields))
    lines.append(f"    return {{{items}}}, pos")
    code = compile("\n".join(lines), f"<avro reader {name}>", "exec")
    exec(code, env)  # noqa: S102 - source built above from repr()'d names only
    read_record: Read = env["read_record"]
    return read_record


def compile_reader(schema: Any) -> Read:
    """A function reading the Avro binary form of a value of ``schema`` (schema JSON)
    from ``data`` at ``pos``: ``(value, position after it)``.

    Raises :class:`Unsupported` when the schema uses a feature this module does not
    compile; the returned function raises it, ``IndexError`` (past the end),
    ``UnicodeDecodeError`` or ``OverflowError`` for an encoding it does not read. In every
    such case fastavro is the authority.
    """
    namespace = schema.get("namespace") if isinstance(schema, dict) else None
    return _Compiler().compile(schema, namespace)


__all__ = ["Read", "Unsupported", "compile_reader", "read_long"]
