"""A precompiled Avro binary writer: the same bytes as fastavro's, at a fraction of the cost.

``fastavro.schemaless_writer`` re-walks the parsed schema on every call (a dict lookup per
field, a type dispatch per value, union matching), which made encoding the largest single
cost of an SDK call (about 10 us of ~24). :func:`compile_writer` walks the schema once and
returns a function made of closures, one per schema node, that only appends bytes.

It is deliberately narrow: it accepts exactly the Python values the record forms of
:mod:`privtrail.wire.records` hold (``str``, ``bool``, ``int``, aware ``datetime``, lists,
``None`` in ``["null", X]`` unions, ``(name, record)`` tuples for named union branches) and
raises :class:`Unsupported` for anything else, at compile time (a schema feature it does not
know) or at write time (a value it does not know). Callers then use fastavro, which either
writes the value or raises its own error, so behaviour never differs; only the fast path's
speed does. ``tests/unit/test_wire_writer.py`` checks byte equality with fastavro.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from privtrail.wire.compiling import SchemaCompiler, Unsupported

Out = list[bytes]
Write = Callable[[Any, Out], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NULL_BRANCH = b"\x00"
_VALUE_BRANCH = b"\x02"  # zig-zag varint of union index 1


def zigzag_varint(n: int) -> bytes:
    """Avro's ``long`` encoding: zig-zag, then base-128 little-endian varint."""
    z = (n << 1) ^ (n >> 63)
    if not -(1 << 63) <= n < (1 << 63):
        raise Unsupported("long out of range")
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Lengths and small counts, encoded once: almost every string and array is shorter.
_SMALL = tuple(zigzag_varint(n) for n in range(2048))
_NSMALL = len(_SMALL)


def _count(n: int) -> bytes:
    return _SMALL[n] if n < _NSMALL else zigzag_varint(n)


def _write_string(value: Any, out: Out) -> None:
    if value.__class__ is not str:
        raise Unsupported("not a str")
    data = value.encode()
    n = len(data)
    out.append(_SMALL[n] if n < _NSMALL else zigzag_varint(n))
    out.append(data)


def _write_long(value: Any, out: Out) -> None:
    if value.__class__ is not int:  # bool is an int subclass: fastavro's call
        raise Unsupported("not an int")
    out.append(zigzag_varint(value))


def _write_boolean(value: Any, out: Out) -> None:
    if value.__class__ is not bool:
        raise Unsupported("not a bool")
    out.append(b"\x01" if value else b"\x00")


def _write_null(value: Any, out: Out) -> None:
    if value is not None:
        raise Unsupported("not None")


def _write_timestamp_micros(value: Any, out: Out) -> None:
    if value.__class__ is int:
        out.append(zigzag_varint(value))
        return
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise Unsupported("not an aware datetime")  # fastavro reads naive ones as local time
    # fastavro's own arithmetic (prepare_timestamp_micros), so rounding is identical
    delta = value - _EPOCH
    out.append(
        zigzag_varint((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    )


_PRIMITIVES: dict[str, Write] = {
    "string": _write_string,
    "long": _write_long,
    "boolean": _write_boolean,
    "null": _write_null,
}
_LOGICAL: dict[tuple[str, str], Write] = {("long", "timestamp-micros"): _write_timestamp_micros}


class _Compiler(SchemaCompiler[Write]):
    """Builds the writer of each schema node (the walk is :class:`SchemaCompiler`'s)."""

    primitives = _PRIMITIVES
    logical = _LOGICAL

    def record(self, name: str, fields: tuple[tuple[str, Write], ...]) -> Write:
        return _record_writer(name, fields)

    def enum(self, symbols: tuple[str, ...]) -> Write:
        index = {s: _count(i) for i, s in enumerate(symbols)}

        def write_enum(value: Any, out: Out) -> None:
            if value.__class__ is not str:
                raise Unsupported("not a str")
            out.append(index[value])  # KeyError: not a symbol, fastavro raises its error

        return write_enum

    def array(self, item: Write) -> Write:
        if item is _write_string:
            return _write_string_array

        def write_array(value: Any, out: Out) -> None:
            if value.__class__ is not list and value.__class__ is not tuple:
                raise Unsupported("not a list")
            if value:
                out.append(_count(len(value)))
                for element in value:
                    item(element, out)
            out.append(b"\x00")

        return write_array

    def union(self, schema: list[Any], namespace: str | None) -> Write:
        if len(schema) == 2 and schema[0] == "null":
            inner = self.compile(schema[1], namespace)
            if inner is _write_string:
                return _write_optional_string

            def write_optional(value: Any, out: Out) -> None:
                if value is None:
                    out.append(_NULL_BRANCH)
                else:
                    out.append(_VALUE_BRANCH)
                    inner(value, out)

            return write_optional
        # Only named branches written in tuple notation, (full name, value): exactly how the
        # record forms write the event payload. Anything else needs fastavro's matching.
        branches: dict[str, tuple[bytes, Write]] = {}
        for i, branch in enumerate(schema):
            if not (isinstance(branch, dict) and branch.get("type") in ("record", "enum")):
                raise Unsupported("union branch that is not an inline named type")
            write = self.compile(branch, namespace)
            name = self.full_name(str(branch["name"]), branch.get("namespace", namespace))
            branches[name] = (_count(i), write)

        def write_tagged(value: Any, out: Out) -> None:
            if value.__class__ is not tuple or len(value) != 2:
                raise Unsupported("union value not in (name, value) notation")
            index, write = branches[value[0]]
            out.append(index)
            write(value[1], out)

        return write_tagged


def _write_optional_string(value: Any, out: Out) -> None:
    # ["null", "string"], the commonest union, unrolled: no nested call
    if value is None:
        out.append(_NULL_BRANCH)
        return
    if value.__class__ is not str:
        raise Unsupported("not a str")
    data = value.encode()
    n = len(data)
    out.append(_VALUE_BRANCH)
    out.append(_SMALL[n] if n < _NSMALL else zigzag_varint(n))
    out.append(data)


def _write_string_array(value: Any, out: Out) -> None:
    # the commonest array (items, purposes), unrolled: no per-element call
    if value.__class__ is not list and value.__class__ is not tuple:
        raise Unsupported("not a list")
    if value:
        append = out.append
        append(_count(len(value)))
        for element in value:
            if element.__class__ is not str:
                raise Unsupported("not a str")
            data = element.encode()
            n = len(data)
            append(_SMALL[n] if n < _NSMALL else zigzag_varint(n))
            append(data)
    out.append(b"\x00")


# Source lines that write a str held in ``v`` (``append`` is ``out.append``).
_STRING_LINES = (
    "if v.__class__ is not str:",
    "    raise Unsupported('not a str')",
    "b = v.encode()",
    "n = len(b)",
    "append(SMALL[n] if n < NSMALL else zigzag_varint(n))",
    "append(b)",
)


def _record_writer(name: str, fields: tuple[tuple[str, Write], ...]) -> Write:
    """One generated function per record: string fields written inline, the rest by call.

    A loop over (field, writer) pairs made one Python call per field, most of the writer's
    cost; records here are mostly strings and optional strings, which the generated code
    writes without a call. Field names go in as ``repr`` literals, never as code.
    """
    lines = [
        "def write_record(value, out):",
        "    if value.__class__ is not dict:",
        "        raise Unsupported('not a dict')",
        "    append = out.append",
    ]
    env: dict[str, Any] = {
        "Unsupported": Unsupported,
        "SMALL": _SMALL,
        "NSMALL": _NSMALL,
        "zigzag_varint": zigzag_varint,
        "NULL": _NULL_BRANCH,
        "VALUE": _VALUE_BRANCH,
    }
    for i, (field, write) in enumerate(fields):
        # KeyError for a missing field (one with a default): fastavro's call, as before
        lines.append(f"    v = value[{field!r}]")
        if write is _write_string:
            lines += [f"    {line}" for line in _STRING_LINES]
        elif write is _write_optional_string:
            lines += [
                "    if v is None:",
                "        append(NULL)",
                "    else:",
                "        append(VALUE)",
            ]
            lines += [f"        {line}" for line in _STRING_LINES]
        else:
            env[f"w{i}"] = write
            lines.append(f"    w{i}(v, out)")
    code = compile("\n".join(lines), f"<avro writer {name}>", "exec")
    exec(code, env)  # noqa: S102 - source built above from repr()'d names only
    write_record: Write = env["write_record"]
    return write_record


def compile_writer(schema: Any) -> Callable[[Any, Out], None]:
    """A function appending the Avro binary form of a value of ``schema`` (schema JSON).

    Raises :class:`Unsupported` when the schema uses a feature this module does not
    compile; the returned function raises it (or ``KeyError``, ``AttributeError``...) for a
    value it does not handle. In both cases fastavro is the authority.
    """
    namespace = schema.get("namespace") if isinstance(schema, dict) else None
    return _Compiler().compile(schema, namespace)


__all__ = ["Unsupported", "compile_writer", "zigzag_varint"]
