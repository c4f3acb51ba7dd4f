"""Checking and converting the parameters of one query, then running it on the server."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from functools import cache
from typing import Any

from privtrail.queries.catalog import Query, load_query
from privtrail.queries.errors import ParameterError, QueryExecutionError
from privtrail.queries.types import convert


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of one query; datetimes are aware (UTC)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def bind(
    query: Query, values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The parameters to send: every declared one present, none extra, each converted.

    ``defaults`` (the policy's declarations) fill parameters the caller did not give; keys
    the query does not declare are ignored there, but not in ``values``.
    """
    for name in values:
        if query.param(name) is None:
            known = ", ".join(p.name for p in query.params) or "none"
            raise ParameterError(query.name, name, f"unexpected; this query takes: {known}")
    merged = {**{k: v for k, v in (defaults or {}).items() if query.param(k)}, **values}
    out: dict[str, Any] = {}
    for param in query.params:
        if param.name not in merged:
            raise ParameterError(
                query.name, param.name, f"missing ({param.type}: {param.description})"
            )
        try:
            out[param.name] = convert(param.type, merged[param.name])
        except ValueError as exc:
            raise ParameterError(query.name, param.name, f"{exc} (type {param.type})") from exc
    return out


def _is_datetime(type_name: str) -> bool:
    """True for DateTime/DateTime64 columns, also Nullable or LowCardinality ones."""
    while type_name.startswith(("Nullable(", "LowCardinality(")):
        type_name = type_name[type_name.index("(") + 1 : -1]
    return type_name.startswith("DateTime")


def _aware_column(values: Sequence[Any]) -> list[Any]:
    # clickhouse-connect returns DateTime64(6, 'UTC') as naive datetimes in UTC. Converted a
    # column at a time: a report of half a million rows is millions of values, and only the
    # datetime columns need looking at.
    return [v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v for v in values]


def _rows(result: Any, *, aware: bool) -> list[tuple[Any, ...]]:
    """The rows of a clickhouse-connect result; ``aware``: its datetimes already have a tz."""
    columns = [
        values if aware or not _is_datetime(kind.name) else _aware_column(values)
        for values, kind in zip(result.result_columns, result.column_types, strict=True)
    ]
    return list(zip(*columns, strict=True)) if columns else []


@cache
def _has_tz_mode(query: Callable[..., Any]) -> bool:
    # clickhouse-connect >= 0.10 builds aware UTC datetimes in its C reader when asked
    # (tz_mode="aware"), far cheaper than replacing the tzinfo of each value in Python.
    try:
        return "tz_mode" in inspect.signature(query).parameters
    except (TypeError, ValueError):
        return False


def run_query(
    client: Any,
    query: str | Query,
    values: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
) -> QueryResult:
    """Run a catalog query with server-side parameters on a clickhouse-connect ``client``."""
    q = load_query(query) if isinstance(query, str) else query
    parameters = bind(q, values, defaults)
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        aware = _has_tz_mode(type(client).query)
        extra = {"tz_mode": "aware"} if aware else {}
        result = client.query(q.sql, parameters=parameters, **extra)
    except ClickHouseError as exc:
        code = getattr(exc, "code", None)
        raise QueryExecutionError(q.name, str(exc).splitlines()[0][:500], code) from exc
    return QueryResult(tuple(result.column_names), _rows(result, aware=aware))
