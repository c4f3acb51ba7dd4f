"""Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint, as the Avro spec defines them.

Written out here rather than borrowed, because the two libraries we use disagree on one point:
the official ``avro`` package (1.12) keeps ``{"type":"long"}`` for a primitive that carries a
``logicalType`` where the spec (and Java, and fastavro) reduce it to ``"long"``. Our envelope
has ``timestamp-micros`` fields, so that difference would change the fingerprint on the wire.
The tests cross-check this module against the spec's own test vectors, fastavro and ``avro``.

Spec: https://avro.apache.org/docs/current/specification/#parsing-canonical-form-for-schemas
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
# [ORDER]: the only attributes kept, in this order.
_KEEP = ("name", "type", "fields", "symbols", "items", "values", "size")

# CRC-64-AVRO: the spec's EMPTY value and the byte table derived from it.
EMPTY = 0xC15D213AA4D7A795


def _table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE = _table()


def rabin64(data: bytes) -> int:
    """The CRC-64-AVRO fingerprint of ``data`` as an unsigned 64-bit integer."""
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def _fullname(name: str, namespace: str | None) -> str:
    # [FULLNAMES]: a dotted name is already full; otherwise the enclosing namespace applies.
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _namespace_of(fullname: str) -> str | None:
    return fullname.rpartition(".")[0] or None


def _canonical(schema: Any, namespace: str | None) -> Any:
    if isinstance(schema, str):
        # [PRIMITIVES] stay as they are; anything else is a reference to a named type.
        return schema if schema in PRIMITIVES else _fullname(schema, namespace)
    if isinstance(schema, list):
        return [_canonical(branch, namespace) for branch in schema]
    if not isinstance(schema, Mapping):
        raise ValueError(f"not an Avro schema: {schema!r}")
    kind = schema.get("type")
    if isinstance(kind, (Mapping, list)):
        # {"type": {...}} is just the inner schema written the long way.
        return _canonical(kind, namespace)
    if not isinstance(kind, str):
        raise ValueError(f"Avro schema object without a 'type': {dict(schema)!r}")
    if kind in PRIMITIVES:
        # [PRIMITIVES] + [STRIP]: {"type":"long","logicalType":...} is just "long".
        return kind
    out: dict[str, Any] = {}
    if kind in _NAMED:
        full = _fullname(str(schema["name"]), schema.get("namespace") or namespace)
        out["name"] = full
        namespace = _namespace_of(full)
    elif kind not in ("array", "map"):
        return _fullname(kind, namespace)  # {"type": "SomeNamedType"}
    out["type"] = kind
    if kind in ("record", "error"):
        out["fields"] = [
            {"name": field["name"], "type": _canonical(field["type"], namespace)}
            for field in schema["fields"]
        ]
    elif kind == "enum":
        out["symbols"] = list(schema["symbols"])
    elif kind == "array":
        out["items"] = _canonical(schema["items"], namespace)
    elif kind == "map":
        out["values"] = _canonical(schema["values"], namespace)
    elif kind == "fixed":
        out["size"] = int(schema["size"])
    return {key: out[key] for key in _KEEP if key in out}


def _as_json(schema: Any) -> Any:
    """Accept parsed JSON, JSON text, or a bare primitive/type name such as ``"int"``."""
    if isinstance(schema, (bytes, bytearray)):
        schema = schema.decode("utf-8")
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        return json.loads(schema)
    return schema


def canonical_form(schema: Any) -> str:
    """The Parsing Canonical Form of ``schema`` (parsed JSON, JSON text, or a type name).

    [WHITESPACE] and [STRINGS]: compact separators, and non-ASCII characters written as
    themselves rather than ``\\u`` escapes.
    """
    return json.dumps(_canonical(_as_json(schema), None), separators=(",", ":"), ensure_ascii=False)


def fingerprint_of(schema: Any) -> bytes:
    """The 8 bytes of the CRC-64-AVRO fingerprint, little-endian, exactly as they go on the wire.

    ``fingerprint_of("int").hex() == "8f5c393f1ad57572"``, which is also what
    ``fastavro.schema.fingerprint`` and ``avro``'s ``Schema.fingerprint()`` print.
    """
    return rabin64(canonical_form(schema).encode("utf-8")).to_bytes(8, "little")


__all__ = ["EMPTY", "PRIMITIVES", "canonical_form", "fingerprint_of", "rabin64"]
