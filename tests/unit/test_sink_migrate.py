"""The DDL files as data: versions, idempotent statements, and the columns the sink writes."""

from __future__ import annotations

import re

import pytest

from privtrail.sinks.migrate import Migration, MigrationError, load_migrations, migrate
from privtrail.sinks.rows import ALERT_COLUMNS, EVENT_COLUMNS
from privtrail.sinks.store import CHECKPOINT_COLUMNS

pytestmark = pytest.mark.unit


def _columns(sql: str) -> set[str]:
    body = sql[sql.index("\n(") + 2 : sql.rindex(")\nENGINE")]
    names = set()
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith(("--", "INDEX")):
            continue
        names.add(line.split()[0])
    return names


def test_versions_are_contiguous_from_one() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


IDEMPOTENT = re.compile(
    r"CREATE (TABLE|DATABASE) IF NOT EXISTS"
    # Parts-only structures: re-adding is a no-op, re-materializing rebuilds the same thing.
    r"|ALTER TABLE privtrail\.\w+ "
    r"(ADD (PROJECTION|INDEX) IF NOT EXISTS|MATERIALIZE (PROJECTION|INDEX)) "
)


def test_every_statement_is_idempotent() -> None:
    for m in load_migrations():
        for statement in m.statements():
            assert IDEMPOTENT.match(statement), statement[:60]


def test_no_migration_rewrites_or_removes_rows() -> None:
    # The history is append-only and tamper-evident: no mutation of rows, no dropped data.
    for m in load_migrations():
        for statement in m.statements():
            assert not re.search(
                r"\b(UPDATE|DELETE|DROP|TRUNCATE|MODIFY|CLEAR)\b", statement, re.I
            ), (m.name, statement[:60])


def test_later_migrations_add_no_column_the_sink_would_have_to_write() -> None:
    for m in load_migrations():
        for statement in m.statements():
            assert not re.search(r"\bADD\s+COLUMN\b", statement, re.I), m.name


def test_tables_have_the_columns_the_sink_writes() -> None:
    by_name = {m.name: m.statements()[0] for m in load_migrations()}
    assert _columns(by_name["events"]) == set(EVENT_COLUMNS)
    assert _columns(by_name["alerts"]) == set(ALERT_COLUMNS)
    assert _columns(by_name["checkpoints"]) == set(CHECKPOINT_COLUMNS)


def test_events_table_layout() -> None:
    sql = next(m.sql for m in load_migrations() if m.name == "events")
    assert "PARTITION BY toYYYYMM(occurred_at)" in sql
    assert "ORDER BY (subject_id, occurred_at, event_id)" in sql
    for column in ("actor_id", "recipient", "event_id"):
        assert re.search(rf"INDEX \w+ {column} TYPE bloom_filter", sql), column
    for m in load_migrations():
        for statement in m.statements():  # a TTL must be >= 2 years, and documented
            assert "TTL" not in statement, m.name
            if statement.startswith("CREATE TABLE"):  # retried inserts are dropped
                assert "non_replicated_deduplication_window" in statement, m.name


class RecordingClient:
    """Records DDL; answers schema_migrations from what was 'inserted' (no server needed)."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.rows: list[list[object]] = []

    def command(self, sql: str) -> None:
        self.commands.append(sql)

    def insert(self, table: str, rows: list[list[object]], column_names: list[str]) -> None:
        self.rows.extend(rows)

    def query(self, sql: str) -> object:
        rows = [(r[0], r[2]) for r in self.rows]
        return type("R", (), {"result_rows": rows})()


def test_migrate_applies_once_then_nothing() -> None:
    client = RecordingClient()
    applied = migrate(client)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    ddl = len(client.commands)
    assert migrate(client) == []
    assert len(client.commands) == ddl + 2  # only the bootstrap statements again


def test_an_edited_applied_migration_is_refused() -> None:
    client = RecordingClient()
    migrate(client)
    edited = [Migration(m.version, m.name, m.sql + "\n-- edited") for m in load_migrations()]
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(client, edited)
