"""The event contract on the wire: Avro single-object encoding of events and alerts.

Typical use::

    from privtrail.wire import encode_event, decode_event

    data = encode_event(event)      # bytes for Kafka, latest event schema
    same = decode_event(data)       # any released writer schema, resolved by fingerprint

``decode_event_trusted`` skips contract validation: only for ``privacy.events.valid``, whose
bytes the stream worker has already validated (the sink uses it).

See ``docs/event-contract.md`` for the schemas, the byte layout and how schemas evolve.
"""

from __future__ import annotations

from privtrail.wire.codec import (
    ALERT_SCHEMA,
    EVENT_SCHEMA,
    REGISTRY,
    decode_alert,
    decode_event,
    decode_event_trusted,
    encode_alert,
    encode_event,
)
from privtrail.wire.fingerprint import canonical_form, fingerprint_of
from privtrail.wire.records import (
    alert_to_record,
    event_to_record,
    record_to_alert,
    record_to_event,
)
from privtrail.wire.registry import SchemaRegistry, SchemaVersion
from privtrail.wire.trusted import record_to_event_trusted

__all__ = [
    "ALERT_SCHEMA",
    "EVENT_SCHEMA",
    "REGISTRY",
    "SchemaRegistry",
    "SchemaVersion",
    "alert_to_record",
    "canonical_form",
    "decode_alert",
    "decode_event",
    "decode_event_trusted",
    "encode_alert",
    "encode_event",
    "event_to_record",
    "fingerprint_of",
    "record_to_alert",
    "record_to_event",
    "record_to_event_trusted",
]
