"""run_query's handling of a clickhouse-connect result, without a server: aware datetimes
whichever way the client delivers them, rows in column order, errors named by query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from privtrail.queries import QueryExecutionError, load_query, run_query

pytestmark = pytest.mark.unit

NAIVE = datetime(2019, 3, 4, 0, 31, 5, 123456)
AWARE = NAIVE.replace(tzinfo=UTC)


@dataclass
class Kind:
    name: str


@dataclass
class FakeResult:
    column_names: tuple[str, ...]
    column_types: tuple[Kind, ...]
    result_columns: list[list[Any]]


COLUMNS = ("occurred_at", "event_id", "corrected_at", "items", "since")
TYPES = (
    Kind("DateTime64(6, 'UTC')"),
    Kind("String"),
    Kind("Nullable(DateTime64(6, 'UTC'))"),
    Kind("Array(LowCardinality(String))"),
    Kind("LowCardinality(Nullable(DateTime))"),
)


def result(dt: datetime) -> FakeResult:
    return FakeResult(
        COLUMNS,
        TYPES,
        [[dt, dt], ["ev-1", "ev-2"], [None, dt], [["email"], []], [dt, None]],
    )


EXPECTED = [
    (AWARE, "ev-1", None, ["email"], AWARE),
    (AWARE, "ev-2", AWARE, [], None),
]


@dataclass
class OldClient:
    """A clickhouse-connect without tz_mode: UTC datetimes come back naive."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> FakeResult:
        self.calls.append({"sql": sql, "parameters": parameters})
        return result(NAIVE)


@dataclass
class NewClient:
    """A clickhouse-connect with tz_mode: asked for "aware", it builds aware datetimes."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None, tz_mode: str | None = None
    ) -> FakeResult:
        self.calls.append({"sql": sql, "parameters": parameters, "tz_mode": tz_mode})
        return result(AWARE if tz_mode == "aware" else NAIVE)


@pytest.mark.parametrize("client_type", [OldClient, NewClient])
def test_rows_have_aware_datetimes_in_column_order(client_type: type[Any]) -> None:
    client = client_type()
    got = run_query(client, "subject_timeline", {"subject": "ps_x"})
    assert got.columns == COLUMNS
    assert got.rows == EXPECTED
    for row in got.rows:
        for value in row:
            assert not isinstance(value, datetime) or value.tzinfo is not None
    assert client.calls[0]["parameters"] == {"subject": "ps_x"}
    assert client.calls[0]["sql"] == load_query("subject_timeline").sql


def test_a_client_with_tz_mode_is_asked_for_aware_datetimes() -> None:
    client = NewClient()
    run_query(client, "subject_timeline", {"subject": "ps_x"})
    assert client.calls[0]["tz_mode"] == "aware"


def test_an_empty_result_has_no_rows() -> None:
    class Empty(OldClient):
        def query(self, sql: str, parameters: dict[str, Any] | None = None) -> FakeResult:
            return FakeResult(COLUMNS, TYPES, [[], [], [], [], []])

    assert run_query(Empty(), "subject_timeline", {"subject": "ps_x"}).rows == []


def test_a_server_error_names_the_query() -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    class Failing(OldClient):
        def query(self, sql: str, parameters: dict[str, Any] | None = None) -> FakeResult:
            raise DatabaseError("Code: 60. DB::Exception: no such table\nmore")

    with pytest.raises(QueryExecutionError, match="subject_timeline"):
        run_query(Failing(), "subject_timeline", {"subject": "ps_x"})
