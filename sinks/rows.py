"""Events and alerts as ClickHouse rows: the one mapping from the contract to typed columns.

:data:`EVENT_FIELDS` says where each typed column of ``privtrail.events`` comes from in the
event's JSON form. The sink uses it to build rows, and ``privtrail verify`` uses it to check on
the server that the typed columns still agree with ``event_json`` (see
:func:`columns_check_sql`), so the two can never drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from privtrail.alerts import Alert
from privtrail.events import BaseEvent, canonical_json
from privtrail.tlog import leaf_hash

Kind = Literal["str", "array", "ts", "nullable_ts", "nullable_bool"]


@dataclass(frozen=True, slots=True)
class FieldMap:
    column: str
    path: tuple[str, ...]
    kind: Kind = "str"


EVENT_FIELDS: tuple[FieldMap, ...] = (
    FieldMap("event_id", ("event_id",)),
    FieldMap("type", ("type",)),
    FieldMap("occurred_at", ("occurred_at",), "ts"),
    FieldMap("service", ("source", "service")),
    FieldMap("instance", ("source", "instance")),
    FieldMap("actor_kind", ("actor", "kind")),
    FieldMap("actor_id", ("actor", "id")),
    FieldMap("actor_role", ("actor", "role")),
    FieldMap("actor_ip", ("actor", "ip")),
    FieldMap("subject_id", ("subject_id",)),
    FieldMap("subject_key_id", ("subject_key_id",)),
    FieldMap("policy_version", ("policy_version",)),
    FieldMap("items", ("items",), "array"),
    FieldMap("purposes", ("purposes",), "array"),
    FieldMap("purpose", ("purpose",)),
    FieldMap("context", ("context",)),
    FieldMap("method", ("method",)),
    FieldMap("operation", ("operation",)),
    FieldMap("recipient", ("recipient",)),
    FieldMap("basis", ("basis",)),
    FieldMap("legal_reference", ("legal_reference",)),
    FieldMap("scope", ("scope",)),
    FieldMap("request_id", ("request_id",)),
    FieldMap("channel", ("channel",)),
    FieldMap("verified_as", ("verified_as",)),
    FieldMap("reason", ("reason",)),
    FieldMap("handler_id", ("handler_id",)),
    FieldMap("role", ("role",)),
    FieldMap("significant", ("significant",), "nullable_bool"),
    FieldMap("announced_at", ("announced_at",), "nullable_ts"),
    FieldMap("effective_at", ("effective_at",), "nullable_ts"),
)

LOG_COLUMNS = (
    "log_topic",
    "log_partition",
    "leaf_index",
    "leaf_hash",
    "kafka_offset",
    "ingested_at",
)
EVENT_COLUMNS: tuple[str, ...] = (
    *(f.column for f in EVENT_FIELDS),
    "event_json",
    *LOG_COLUMNS,
)

ALERT_COLUMNS: tuple[str, ...] = (
    "alert_id", "rule", "severity", "event_id", "subject_id", "actor_id", "occurred_at",
    "policy_version", "message", "evidence_json", "raised_at",
    "kafka_topic", "kafka_partition", "kafka_offset", "ingested_at",
)  # fmt: skip


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = doc
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp of the JSON form (``...Z``) as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _typed_values_slow(doc: dict[str, Any]) -> list[Any]:
    """Reference implementation of :func:`typed_values` (kept for the equivalence test)."""
    out: list[Any] = []
    for f in EVENT_FIELDS:
        value = _get(doc, f.path)
        if f.kind == "str":
            out.append("" if value is None else str(value))
        elif f.kind == "array":
            out.append(list(value) if value else [])
        elif f.kind == "ts":
            out.append(parse_timestamp(value))
        elif f.kind == "nullable_ts":
            out.append(None if value is None else parse_timestamp(value))
        else:
            out.append(None if value is None else bool(value))
    return out


def _compile_typed_values() -> Any:
    """One straight-line function for :data:`EVENT_FIELDS`: the sink calls it per event, and
    the generic loop above costs several times more (a lookup chain per field)."""
    exprs = []
    for f in EVENT_FIELDS:
        if len(f.path) == 1:
            v = f"g({f.path[0]!r})"
        else:
            v = f"(g({f.path[0]!r}) or {{}}).get({f.path[1]!r})"
        if f.kind == "str":
            exprs.append(f"{v} or ''")
        elif f.kind == "array":
            exprs.append(f"list({v} or ())")
        elif f.kind == "ts":
            exprs.append(f"ts({v})")
        elif f.kind == "nullable_ts":
            exprs.append(f"_opt(ts, {v})")
        else:
            exprs.append(f"_opt(bool, {v})")
    if any(len(f.path) > 2 for f in EVENT_FIELDS):
        return _typed_values_slow
    source = "def typed_values(doc):\n    g = doc.get\n    return [\n"
    source += "".join(f"        {e},\n" for e in exprs) + "    ]\n"
    namespace: dict[str, Any] = {"ts": parse_timestamp, "_opt": _opt}
    exec(compile(source, "<typed_values>", "exec"), namespace)  # noqa: S102 (our own code)
    return namespace["typed_values"]


def _opt(convert: Any, value: Any) -> Any:
    return None if value is None else convert(value)


_typed_values = _compile_typed_values()


def typed_values(doc: dict[str, Any]) -> list[Any]:
    """The typed column values of one event's JSON form, in :data:`EVENT_FIELDS` order.

    Absent optional fields become '' / [] / None (the contract never allows '' itself).
    """
    values: list[Any] = _typed_values(doc)
    return values


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event ready to insert: its canonical bytes and typed values, before log coordinates."""

    event_id: str
    canonical: bytes
    values: list[Any]


def event_row(event: BaseEvent) -> EventRow:
    """Build the typed values and canonical bytes of one event from a single JSON dump."""
    doc = event.to_json()
    canonical = canonical_json(doc)
    return EventRow(event.event_id, canonical, typed_values(doc))


def event_row_from_json(doc: dict[str, Any]) -> EventRow:
    """Same as :func:`event_row` for an event already in its (validated) JSON form."""
    return EventRow(str(doc["event_id"]), canonical_json(doc), typed_values(doc))


def full_event_row(
    row: EventRow,
    *,
    topic: str,
    partition: int,
    leaf_index: int,
    leaf_hash: bytes,
    offset: int,
    ingested_at: datetime,
) -> list[Any]:
    """All :data:`EVENT_COLUMNS` values of one row."""
    return [
        *row.values,
        row.canonical.decode(),
        topic,
        partition,
        leaf_index,
        leaf_hash,
        offset,
        ingested_at,
    ]


def fresh_log_rows(
    events: Iterable[BaseEvent],
    *,
    topic: str,
    partition: int = 0,
    ingested_at: datetime | None = None,
) -> list[list[Any]]:
    """Stored rows of ``events`` as a new log of their own: leaf ``i`` at offset ``i``.

    For fixtures, baselines and tests that write history without the sink. ``ingested_at``
    defaults to each event's ``occurred_at``.
    """
    rows = []
    for i, event in enumerate(events):
        row = event_row(event)
        rows.append(
            full_event_row(
                row,
                topic=topic,
                partition=partition,
                leaf_index=i,
                leaf_hash=leaf_hash(row.canonical),
                offset=i,
                ingested_at=event.occurred_at if ingested_at is None else ingested_at,
            )
        )
    return rows


def alert_row(
    alert: Alert,
    *,
    topic: str,
    partition: int,
    offset: int,
    raised_at: datetime,
    ingested_at: datetime,
) -> list[Any]:
    """All :data:`ALERT_COLUMNS` values of one alert."""
    return [
        alert.alert_id,
        alert.rule,
        alert.severity,
        alert.event_id,
        alert.subject_id or "",
        alert.actor_id or "",
        alert.occurred_at.astimezone(UTC),
        alert.policy_version,
        alert.message,
        json.dumps(alert.evidence, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        raised_at,
        topic,
        partition,
        offset,
        ingested_at,
    ]


# -- the server-side consistency check used by `privtrail verify` --------------------------


def _tuple_type(fields: Sequence[FieldMap], depth: int = 0) -> str:
    """The ``Tuple(...)`` type JSONExtract needs to pull every mapped field in one parse."""
    groups: dict[str, list[FieldMap]] = {}
    for f in fields:
        groups.setdefault(f.path[depth], []).append(f)
    parts = []
    for key, members in groups.items():
        if len(members[0].path) > depth + 1:
            parts.append(f"{key} {_tuple_type(members, depth + 1)}")
        elif members[0].kind == "array":
            parts.append(f"{key} Array(String)")
        elif members[0].kind == "nullable_bool":
            parts.append(f"{key} Nullable(Bool)")
        else:
            parts.append(f"{key} String")
    return "Tuple(" + ", ".join(parts) + ")"


def _element(path: tuple[str, ...], root: str = "j") -> str:
    expr = root
    for key in path:
        expr = f"tupleElement({expr}, '{key}')"
    return expr


def _agrees(f: FieldMap) -> str:
    x = _element(f.path)
    c = f.column
    if f.kind == "str":
        return f"toString({c}) = {x}"
    if f.kind == "array":
        return f"CAST({c}, 'Array(String)') = {x}"
    if f.kind == "ts":
        return f"ifNull({c} = parseDateTime64BestEffortOrNull({x}, 6, 'UTC'), 0)"
    if f.kind == "nullable_ts":
        return (
            f"if({x} = '', {c} IS NULL, "
            f"ifNull({c} = parseDateTime64BestEffortOrNull({x}, 6, 'UTC'), 0))"
        )
    return f"ifNull(toString({c}), '-') = ifNull(toString({x}), '-')"


def columns_check_sql() -> str:
    """SQL select items ending in a UInt64 ``column_mask``: bit ``i`` is set when column
    ``EVENT_FIELDS[i]`` disagrees with ``event_json``; zero means the typed columns say exactly
    what the JSON says. The JSON is parsed once per row (into the alias ``j``)."""
    bits = " + ".join(
        f"toUInt64(NOT ({_agrees(f)})) * {1 << i}" for i, f in enumerate(EVENT_FIELDS)
    )
    return f"JSONExtract(event_json, '{_tuple_type(EVENT_FIELDS)}') AS j, ({bits}) AS column_mask"


def columns_from_mask(mask: int) -> list[str]:
    """The column names whose bits are set in a :func:`columns_check_sql` result."""
    return [f.column for i, f in enumerate(EVENT_FIELDS) if mask >> i & 1]


# -- the fast path: rebuild the canonical JSON from the typed columns -----------------------
#
# JSONExtract of ~30 fields costs ~17 us per row, too slow for 10 million rows. Rebuilding the
# canonical JSON (sorted keys, compact) from the typed columns with string functions and
# comparing it with event_json is an order of magnitude cheaper. A row that fails this check
# is then examined with :func:`columns_check_sql` to name the disagreeing columns (and a row
# the fast path flags but the slow one clears, e.g. an exotic escape, is not a problem).

_ISO = "'%Y-%m-%dT%H:%i:%S'"


def _json_value(f: FieldMap) -> tuple[str, str]:
    """(condition for the key to be present, SQL producing the JSON value)."""
    c = f.column
    if f.kind == "str":
        return f"{c} != ''", f"toJSONString(toString({c}))"
    if f.kind == "array":
        return f"notEmpty({c})", f"toJSONString(CAST({c}, 'Array(String)'))"
    if f.kind in ("ts", "nullable_ts"):
        v = c if f.kind == "ts" else f"assumeNotNull({c})"
        text = (
            f"concat('\"', formatDateTime({v}, {_ISO}), "
            f"if(toUnixTimestamp64Micro({v}) % 1000000 = 0, '', "
            f"concat('.', leftPad(toString(toUnixTimestamp64Micro({v}) % 1000000), 6, '0'))), "
            "'Z\"')"
        )
        return ("1" if f.kind == "ts" else f"{c} IS NOT NULL"), text
    return f"{c} IS NOT NULL", f"if(assumeNotNull({c}), 'true', 'false')"


def _object_sql(fields: Sequence[FieldMap], depth: int = 0) -> str:
    groups: dict[str, list[FieldMap]] = {}
    for f in fields:
        groups.setdefault(f.path[depth], []).append(f)
    parts = []
    for key in sorted(groups):  # canonical_json sorts keys by code point, like Python's sort
        members = groups[key]
        if len(members[0].path) > depth + 1:
            cond, value = "1", _object_sql(members, depth + 1)
        else:
            cond, value = _json_value(members[0])
        parts.append(f"if({cond}, concat(',\"{key}\":', {value}), '')")
    # Every fragment starts with a comma; substring() drops the first one. Cheaper than
    # filtering an array of fragments, which matters at 10 million rows.
    return f"concat('{{', substring(concat({', '.join(parts)}), 2), '}}')"


def rebuilt_json_sql() -> str:
    """SQL rebuilding ``event_json`` from the typed columns; equal when they agree."""
    return _object_sql(EVENT_FIELDS)
