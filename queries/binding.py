"""Checking and converting the parameters of one query, then running it on the server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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


def _aware(value: Any) -> Any:
    # clickhouse-connect returns DateTime64(6, 'UTC') as naive datetimes in UTC.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


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
        result = client.query(q.sql, parameters=parameters)
    except ClickHouseError as exc:
        code = getattr(exc, "code", None)
        raise QueryExecutionError(q.name, str(exc).splitlines()[0][:500], code) from exc
    rows = [tuple(_aware(v) for v in row) for row in result.result_rows]
    return QueryResult(tuple(result.column_names), rows)
