"""Typed events from records that were already validated upstream, built without pydantic.

The sink reads ``privacy.events.valid``, whose every record the stream worker has decoded
with full validation before forwarding the same bytes. Validating them a second time was
about half of the sink's CPU. :func:`record_to_event_trusted` assembles the models directly
instead, holding exactly the values validation would have produced (aware UTC datetimes, the
``type`` literal, None for absent optionals, the record's lists), so the event is equal to
:func:`~privtrail.wire.records.record_to_event`'s and has the same ``to_json()`` and
``canonical_bytes()``. ``tests/unit/test_wire_trusted.py`` checks that for every event type.

Why not ``model_construct``: it resolves aliases and defaults field by field on every call,
which cost more than half of what validation did. :func:`_builder` works out each model's
field layout once, at import, and then does only what ``model_construct`` ends up doing for
these models: set ``__dict__`` (fields in declaration order), the fields-set, no extras, no
private attributes. A model it cannot reproduce that way (aliases, ``extra="allow"``, a
post-init hook) falls back to ``model_construct``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from privtrail.errors import ContractError
from privtrail.events import Actor, BaseEvent, Event, Source
from privtrail.wire.records import BRANCHES

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def _plain(cls: type[BaseModel]) -> bool:
    """True when ``model_construct`` amounts to setting four attributes for ``cls``."""
    return (
        cls.model_config.get("extra") != "allow"
        and not cls.__pydantic_post_init__
        and not cls.__pydantic_root_model__
        and all(f.alias is None and f.validation_alias is None for f in cls.model_fields.values())
    )


def _builder(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """A function building ``cls`` instances from values taken as already valid.

    It takes ``values[name]`` for every field of ``cls`` (other keys are ignored) and raises
    :class:`ContractError` for a missing one, which only a schema/model drift can cause.
    """
    names = tuple(cls.model_fields)
    plain = _plain(cls)
    new = cls.__new__

    def build(values: dict[str, Any]) -> M:
        try:
            fields = {name: values[name] for name in names}
        except KeyError as exc:
            raise ContractError(str(exc.args[0]), "missing from the record") from exc
        if not plain:
            return cls.model_construct(**fields)
        model = new(cls)
        _set(model, "__dict__", fields)
        _set(model, "__pydantic_fields_set__", set(fields))
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model

    return build


_SOURCE = _builder(Source)
_ACTOR = _builder(Actor)
# Payload branch name -> (event type, event builder, the payload's timestamp fields).
_BRANCHES: dict[str, tuple[str, Callable[[dict[str, Any]], BaseEvent], frozenset[str]]] = {
    b.name: (b.event_type, _builder(b.cls), b.timestamp_fields)
    for b in BRANCHES
    if b.cls is not None
}


def _utc(value: datetime) -> datetime:
    """What the contract's ``Timestamp`` validator makes of a datetime fastavro read.

    fastavro returns ``timestamp-micros`` as aware UTC datetimes, so this is normally the
    identity; anything else is normalised (or refused, if naive) as validation would.
    """
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ContractError("", "timestamp must carry a time zone")
    return value.astimezone(UTC)


def record_to_event_trusted(record: dict[str, Any]) -> Event:
    """A typed event from the Avro record form, WITHOUT contract validation.

    Only for records read from bytes that were validated upstream (``privacy.events.valid``);
    see :func:`privtrail.wire.decode_event_trusted`. None of the contract's checks (terms, no
    personal values, lengths, subject presence) run; what is still refused, with
    :class:`ContractError`, is a record that cannot be assembled at all (an unknown payload
    branch, a ``type`` that does not match it, a naive timestamp).

    Takes ownership of ``record``, which is modified: pass the dict fastavro just returned.
    """
    name, payload = record.pop("payload")
    found = _BRANCHES.get(name)
    if found is None:
        raise ContractError("payload", f"unknown payload branch {name!r}")
    kind, build, stamps = found
    if record["type"] != kind:
        raise ContractError("type", f"{record['type']!r} does not match the payload branch {name}")
    record["occurred_at"] = _utc(record["occurred_at"])
    record["source"] = _SOURCE(record["source"])
    record["actor"] = _ACTOR(record["actor"])
    for stamp in stamps:
        payload[stamp] = _utc(payload[stamp])
    record.update(payload)
    return build(record)  # type: ignore[return-value]


__all__ = ["record_to_event_trusted"]
