"""Avro single-object encoding of events and alerts (the bytes on Kafka).

Layout, from the Avro spec::

    offset 0      2                    10
           +------+--------------------+---------------------------+
           | C3 01| CRC-64-AVRO (8 B,  | Avro binary body, written |
           |magic | little-endian)     | with that schema          |
           +------+--------------------+---------------------------+

Writers always use the latest released schema. Readers look the fingerprint up among every
released version (:class:`SchemaRegistry`) and read with schema resolution into their latest
version, so a producer and a consumer one release apart still understand each other.

All schema work (loading, parsing, fingerprinting) happens once, at import.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from struct import error as StructError
from typing import Any, TypeVar

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from privtrail.alerts import Alert
from privtrail.errors import ContractError, WireError
from privtrail.events import Event
from privtrail.wire.compiling import Unsupported
from privtrail.wire.reader import Read, compile_reader
from privtrail.wire.records import (
    alert_to_record,
    event_to_record,
    record_to_alert,
    record_to_event,
)
from privtrail.wire.registry import SchemaRegistry, SchemaVersion
from privtrail.wire.trusted import record_to_event_trusted
from privtrail.wire.writer import compile_writer

MAGIC = b"\xc3\x01"
HEADER_SIZE = 10
"""Magic (2 bytes) + fingerprint (8 bytes)."""

REGISTRY = SchemaRegistry.bundled()
"""Every released schema version shipped with this package."""
EVENT_VERSION: SchemaVersion = REGISTRY.latest("event")
ALERT_VERSION: SchemaVersion = REGISTRY.latest("alert")
EVENT_SCHEMA: Any = EVENT_VERSION.schema
"""The current event schema as JSON (``schemas/event.v<latest>.avsc``). Do not mutate."""
ALERT_SCHEMA: Any = ALERT_VERSION.schema
"""The current alert schema as JSON (``schemas/alert.v<latest>.avsc``). Do not mutate."""

# What fastavro may raise on a body that does not match its schema: short reads, a union
# index or enum index out of range, invalid UTF-8, a timestamp out of datetime's range.
_BODY_ERRORS = (
    EOFError,
    IndexError,
    KeyError,
    ValueError,
    TypeError,
    OverflowError,
    StructError,
    MemoryError,
)


def frame(fingerprint: bytes, body: bytes) -> bytes:
    """Prefix an Avro body with the single-object header."""
    return MAGIC + fingerprint + body


F = TypeVar("F")


def _compiled_once(
    cache: dict[bytes, F | None], compile_schema: Callable[[Any], F], version: SchemaVersion
) -> F | None:
    """``compile_schema(version.schema)``, once per version (None: it needs fastavro)."""
    try:
        return cache[version.fingerprint]
    except KeyError:
        pass
    try:
        fast: F | None = compile_schema(version.schema)
    except Unsupported:
        fast = None
    cache[version.fingerprint] = fast
    return fast


_FAST: dict[bytes, Callable[[Any, list[bytes]], None] | None] = {}
_FAST_READ: dict[bytes, Read | None] = {}


def _fast_writer(version: SchemaVersion) -> Callable[[Any, list[bytes]], None] | None:
    """The precompiled writer of ``version`` (None when it needs fastavro), compiled once."""
    return _compiled_once(_FAST, compile_writer, version)


def _fast_reader(version: SchemaVersion) -> Read | None:
    """The precompiled reader of ``version`` (None when it needs fastavro), compiled once."""
    return _compiled_once(_FAST_READ, compile_reader, version)


def _write(version: SchemaVersion, record: dict[str, Any]) -> bytes:
    fast = _fast_writer(version)
    if fast is not None:
        parts = [MAGIC, version.fingerprint]
        try:
            fast(record, parts)
        except Exception:  # noqa: S110 - a value it does not handle: fastavro decides below
            pass
        else:
            return b"".join(parts)
    out = BytesIO()
    out.write(MAGIC)
    out.write(version.fingerprint)
    try:
        schemaless_writer(out, version.parsed, record)
    except (TypeError, ValueError, OverflowError, StructError) as exc:
        # Only reachable with a hand-made value of the wrong type (an int as a rule name).
        raise ContractError("", f"does not fit {version.label}: {exc}") from exc
    return out.getvalue()


_fast_writer(EVENT_VERSION)  # compiled at import, like the schemas themselves
_fast_writer(ALERT_VERSION)
_fast_reader(EVENT_VERSION)
_fast_reader(ALERT_VERSION)


def read_record(
    data: bytes, name: str, reader: SchemaVersion, registry: SchemaRegistry = REGISTRY
) -> dict[str, Any]:
    """Decode one single-object message of schema ``name`` into ``reader``'s record form.

    :class:`WireError` for a short buffer, bad magic, an unknown fingerprint, a body that
    does not decode, or bytes left over after the body.
    """
    if len(data) < HEADER_SIZE:
        raise WireError(
            f"truncated message: {len(data)} bytes, the single-object header alone is {HEADER_SIZE}"
        )
    if data[:2] != MAGIC:
        raise WireError(
            f"bad magic {bytes(data[:2]).hex()}: not Avro single-object encoding (want c301)"
        )
    writer = registry.resolve(bytes(data[2:HEADER_SIZE]), name)
    if writer.fingerprint == reader.fingerprint:
        # The precompiled reader (privtrail.wire.reader) reads well-formed bodies of the
        # current schema; anything it does not read, fastavro reads or refuses below.
        fast = _fast_reader(writer)
        if fast is not None:
            try:
                record, end = fast(data, HEADER_SIZE)
            except Exception:  # noqa: S110 - fastavro is the authority on what is wrong
                pass
            else:
                if end == len(data) and isinstance(record, dict):
                    return record
    buf = BytesIO(data)
    buf.seek(HEADER_SIZE)
    try:
        record = schemaless_reader(
            buf,
            writer.parsed,
            # Same version: no resolution to do, and fastavro skips its schema comparison.
            None if writer.fingerprint == reader.fingerprint else reader.parsed,
            # Payload branches come back as (name, record), the record form's union notation;
            # a future ["null", SomeRecord] field would still come back as a plain record.
            return_record_name=True,
            return_record_name_override=True,
        )
    except SchemaResolutionError as exc:
        # Only possible if a released version was not compatible with the reader's.
        raise WireError(f"cannot read {writer.label} as {reader.label}: {exc}") from exc
    except _BODY_ERRORS as exc:
        raise WireError(
            f"corrupt {writer.label} body ({type(exc).__name__}: {exc or 'short read'})"
        ) from exc
    left = len(data) - buf.tell()
    if left:
        raise WireError(f"{left} trailing bytes after the {writer.label} body")
    if not isinstance(record, dict):
        raise WireError(f"{writer.label} body did not decode to a record")
    return record


def encode_event(event: Event) -> bytes:
    """Single-object bytes of a typed event, written with the latest event schema."""
    return _write(EVENT_VERSION, event_to_record(event))


def decode_event(data: bytes) -> Event:
    """A typed event from single-object bytes written with any released event schema.

    :class:`WireError` when the bytes cannot be read; :class:`ContractError` when they can
    but the event breaks the contract (a personal value, a missing subject, ...).
    """
    return record_to_event(read_record(data, "event", EVENT_VERSION))


def decode_event_trusted(data: bytes) -> Event:
    """A typed event from single-object bytes that were ALREADY VALIDATED upstream.

    Only for ``privacy.events.valid``: every record there was decoded with
    :func:`decode_event` by the stream worker, which forwards the very same bytes only when
    the event kept the contract. Validating them again in the sink was about half of its CPU
    time, so this skips pydantic and assembles the models directly (what ``model_construct``
    does, with each model's field layout worked out once at import).

    Reading is unchanged: the same framing, fingerprint and schema resolution as
    :func:`decode_event`, and :class:`WireError` for bytes that cannot be read. What is
    skipped is the contract itself (vocabulary terms, no personal values, lengths, subject
    presence): bytes that are well-formed Avro but break the contract come back as an event
    instead of a :class:`ContractError`. So never use it on bytes from anywhere else (the raw
    ``privacy.events`` topic, a file, a client). See ``privtrail/wire/trusted.py``.

    For valid bytes the result equals ``decode_event(data)``: same fields, same
    ``to_json()``, same ``canonical_bytes()`` (what the Merkle leaf hashes). The unit tests
    check this for every event type (``tests/unit/test_wire_trusted.py``).
    """
    return record_to_event_trusted(read_record(data, "event", EVENT_VERSION))


def encode_alert(alert: Alert) -> bytes:
    """Single-object bytes of an alert, written with the latest alert schema."""
    return _write(ALERT_VERSION, alert_to_record(alert))


def decode_alert(data: bytes) -> Alert:
    """An alert from single-object bytes written with any released alert schema."""
    return record_to_alert(read_record(data, "alert", ALERT_VERSION))


__all__ = [
    "ALERT_SCHEMA",
    "ALERT_VERSION",
    "EVENT_SCHEMA",
    "EVENT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "REGISTRY",
    "decode_alert",
    "decode_event",
    "decode_event_trusted",
    "encode_alert",
    "encode_event",
    "frame",
    "read_record",
]
