"""Typed events and alerts <-> their Avro record form (the dicts fastavro reads and writes).

The record form of an event is the envelope of ``schemas/event.v<N>.avsc``::

    {"event_id": ..., "type": "used", "occurred_at": datetime (UTC), "source": {...},
     "actor": {...}, "subject_id": ..., "subject_key_id": ..., "policy_version": ...,
     "payload": ("privtrail.UsedPayload", {"items": [...], "purpose": ..., ...})}

The payload is a ``(branch name, fields)`` pair, fastavro's tuple notation for a union
branch. It has to be named: several payloads have the same shape (``ConsentGiven`` and
``ConsentWithdrawn``; ``Corrected`` and ``AccessFulfilled``; the empty
``WithdrawalRequested`` matches any dict), so picking a branch by shape would pick the wrong
one. Naming it is also faster: fastavro does not try each of the 17 branches in turn.

Which fields go in which payload is read from the current event schema, so this module and
the ``.avsc`` file cannot drift; :func:`contract_mismatches` checks both against
``privtrail.events``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from privtrail.alerts import SEVERITIES, Alert
from privtrail.errors import ContractError
from privtrail.events import EVENT_CLASSES, BaseEvent, Event, canonical_json, contract_error
from privtrail.schemas import latest as _latest_schema_file

NAMESPACE = "privtrail"
HEADER_FIELDS = (
    "event_id",
    "type",
    "occurred_at",
    "source",
    "actor",
    "subject_id",
    "subject_key_id",
    "policy_version",
)
"""Envelope fields common to every event type, in schema order (``payload`` comes last)."""


@dataclass(frozen=True, slots=True)
class PayloadBranch:
    """One branch of the envelope's ``payload`` union: which event type, which fields."""

    event_type: str
    """Event type name, e.g. ``consent_given``."""
    name: str
    """Avro full name of the payload record, e.g. ``privtrail.ConsentGivenPayload``."""
    fields: tuple[str, ...]
    list_fields: frozenset[str]
    cls: type[BaseEvent] | None
    """The model class; None when ``privtrail.events`` has no such type (a contract drift)."""
    timestamp_fields: frozenset[str] = frozenset()
    """Fields with a ``timestamp-*`` logical type (datetimes in the record form)."""


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def payload_branches(event_schema: Any) -> tuple[PayloadBranch, ...]:
    """The payload branches of an event schema (parsed JSON), in union order."""
    payload = next(f for f in event_schema["fields"] if f["name"] == "payload")
    branches = []
    for record in payload["type"]:
        short = str(record["name"]).rpartition(".")[2]
        kind = _snake(short.removesuffix("Payload"))
        fields = tuple(str(f["name"]) for f in record["fields"])
        lists = frozenset(
            str(f["name"])
            for f in record["fields"]
            if isinstance(f["type"], dict) and f["type"].get("type") == "array"
        )
        stamps = frozenset(
            str(f["name"])
            for f in record["fields"]
            if isinstance(f["type"], dict)
            and str(f["type"].get("logicalType", "")).startswith("timestamp-")
        )
        branches.append(
            PayloadBranch(
                kind, f"{NAMESPACE}.{short}", fields, lists, EVENT_CLASSES.get(kind), stamps
            )
        )
    return tuple(branches)


BRANCHES = payload_branches(_latest_schema_file("event").load())
_BY_TYPE = {b.event_type: b for b in BRANCHES}
_BY_NAME = {b.name: b for b in BRANCHES}


def contract_mismatches() -> list[str]:
    """Differences between the current event schema and the models in ``privtrail.events``.

    Empty when they agree. Checked by the unit tests rather than at import, so that a
    half-made change in ``events.py`` fails the tests instead of every importer.
    """
    problems = []
    for kind in EVENT_CLASSES:
        if kind not in _BY_TYPE:
            problems.append(f"event type {kind!r} has no payload branch in the event schema")
    for branch in BRANCHES:
        if branch.cls is None:
            problems.append(f"payload {branch.name} names no event type in privtrail.events")
            continue
        model = set(branch.cls.model_fields) - set(HEADER_FIELDS)
        if model != set(branch.fields):
            problems.append(
                f"{branch.event_type}: model fields {sorted(model)} != schema fields "
                f"{sorted(branch.fields)}"
            )
    return problems


def event_to_record(event: Event) -> dict[str, Any]:
    """The Avro record form of a typed event (no validation: the event is already valid).

    Lists are copied, so mutating the record cannot change the frozen event.
    """
    branch = _BY_TYPE[event.type]
    payload = {name: getattr(event, name) for name in branch.fields}
    for name in branch.list_fields:
        payload[name] = list(payload[name])
    source = event.source
    actor = event.actor
    return {
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "source": {"service": source.service, "instance": source.instance},
        "actor": {"kind": actor.kind, "id": actor.id, "role": actor.role, "ip": actor.ip},
        "subject_id": event.subject_id,
        "subject_key_id": event.subject_key_id,
        "policy_version": event.policy_version,
        "payload": (branch.name, payload),
    }


def record_to_event(record: dict[str, Any]) -> Event:
    """Validate an Avro record form into a typed event, or raise :class:`ContractError`.

    The same checks as the JSON form apply (vocabulary-looking terms, no personal values,
    subject presence), so bytes from a foreign producer are held to the contract too.
    """
    if not isinstance(record, dict):
        raise ContractError("", f"an event record must be a dict, not {type(record).__name__}")
    payload = record.get("payload")
    if not (isinstance(payload, tuple) and len(payload) == 2 and isinstance(payload[1], dict)):
        raise ContractError(
            "payload", "must be a (branch name, fields) pair, e.g. ('privtrail.UsedPayload', {})"
        )
    name, fields = payload
    branch = _BY_NAME.get(name)
    if branch is None or branch.cls is None:
        raise ContractError("payload", f"unknown payload branch {name!r}")
    kind = record.get("type")
    if kind != branch.event_type:
        raise ContractError("type", f"{kind!r} does not match the payload branch {name}")
    data = {key: value for key, value in record.items() if key != "payload"}
    data.update(fields)
    try:
        # Validating the known class directly skips pydantic's tagged-union dispatch.
        return branch.cls.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise contract_error(exc) from exc


def alert_to_record(alert: Alert) -> dict[str, Any]:
    """The Avro record form of an alert; :class:`ContractError` if it cannot go on the wire.

    ``evidence`` becomes canonical JSON text: each rule puts a differently shaped object
    there, and a string keeps the schema (and the ClickHouse column) stable as rules change.
    """
    if alert.severity not in SEVERITIES:
        raise ContractError("severity", f"{alert.severity!r} is not one of {', '.join(SEVERITIES)}")
    if alert.occurred_at.tzinfo is None or alert.occurred_at.utcoffset() is None:
        # fastavro would read a naive datetime as local time: refuse rather than guess.
        raise ContractError("occurred_at", "timestamp must carry a time zone")
    try:
        evidence = canonical_json(alert.evidence).decode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ContractError("evidence", f"not JSON-serialisable: {exc}") from exc
    return {
        "alert_id": alert.alert_id,
        "rule": alert.rule,
        "event_id": alert.event_id,
        "subject_id": alert.subject_id,
        "actor_id": alert.actor_id,
        "severity": alert.severity,
        "message": alert.message,
        "occurred_at": alert.occurred_at.astimezone(UTC),
        "policy_version": alert.policy_version,
        "evidence": evidence,
    }


def record_to_alert(record: dict[str, Any]) -> Alert:
    """An :class:`Alert` from its Avro record form, or :class:`ContractError`."""
    missing = [key for key in _ALERT_REQUIRED if key not in record]
    if missing:
        raise ContractError(missing[0], "missing required field")
    try:
        evidence = json.loads(record["evidence"])
    except (TypeError, ValueError) as exc:
        raise ContractError("evidence", f"not valid JSON: {exc}") from exc
    if not isinstance(evidence, dict):
        raise ContractError("evidence", "must be a JSON object")
    occurred = record["occurred_at"]
    if not isinstance(occurred, datetime) or occurred.utcoffset() is None:
        raise ContractError("occurred_at", "must be a timezone-aware timestamp")
    if record["severity"] not in SEVERITIES:
        raise ContractError(
            "severity", f"{record['severity']!r} is not one of {', '.join(SEVERITIES)}"
        )
    alert = Alert(
        rule=record["rule"],
        event_id=record["event_id"],
        subject_id=record.get("subject_id"),
        severity=record["severity"],
        message=record["message"],
        occurred_at=occurred,
        policy_version=record["policy_version"],
        actor_id=record.get("actor_id"),
        evidence=evidence,
    )
    if record["alert_id"] != alert.alert_id:
        # The id is derived from (rule, event_id, recipient): a mismatch means an altered alert.
        raise ContractError(
            "alert_id", f"{record['alert_id']!r} does not match rule, event_id and recipient"
        )
    return alert


_ALERT_REQUIRED = (
    "alert_id",
    "rule",
    "event_id",
    "severity",
    "message",
    "occurred_at",
    "policy_version",
    "evidence",
)


__all__ = [
    "BRANCHES",
    "HEADER_FIELDS",
    "PayloadBranch",
    "alert_to_record",
    "contract_mismatches",
    "event_to_record",
    "payload_branches",
    "record_to_alert",
    "record_to_event",
]
