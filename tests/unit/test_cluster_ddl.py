"""The cluster DDL generated from ``sinks/ddl/*.sql``, checked by ClickHouse's own parser.

chDB (ClickHouse in-process) parses every statement (``EXPLAIN AST``, ``formatQuery``) with
no cluster or Keeper behind it, so ``ON CLUSTER`` and ``ReplicatedMergeTree`` are checked for
syntax only. Column lists are compared as ClickHouse parsed them, not as text, and the
single-node tables are really created in chDB to type-check the sharding keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

# chDB comes with the server extra the test venv installs; without it, fail rather than skip.
from chdb.session import Session

from privtrail.sinks.cluster import (
    ClusterDDLError,
    cluster_ddl,
    cluster_tables,
    main,
    render_cluster_ddl,
)
from privtrail.sinks.migrate import load_migrations

pytestmark = pytest.mark.unit

CLUSTER = "audit_cluster"


@pytest.fixture(scope="module")
def ch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    session = Session(str(tmp_path_factory.mktemp("chdb")))  # type: ignore[no-untyped-call]
    yield session
    session.close()  # type: ignore[no-untyped-call]


def run(ch: Session, sql: str, params: dict[str, str] | None = None) -> str:
    return str(ch.query(sql, "TSVRaw", params=params))  # type: ignore[no-untyped-call]


def ast(ch: Session, statement: str) -> list[str]:
    return run(ch, f"EXPLAIN AST {statement}").splitlines()


def formatted(ch: Session, statement: str) -> str:
    # Query parameters arrive in TSV's escaped form: a raw newline would end the value.
    escaped = statement.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    return run(ch, "SELECT formatQuery({q:String})", {"q": escaped})


def subtree(lines: list[str], header: str) -> list[str]:
    """The AST node whose line starts with ``header`` (after indentation) and its children."""
    for i, line in enumerate(lines):
        if line.strip().startswith(header):
            depth = len(line) - len(line.lstrip())
            end = i + 1
            while end < len(lines) and len(lines[end]) - len(lines[end].lstrip()) > depth:
                end += 1
            return lines[i:end]
    raise AssertionError(f"no {header!r} node in:\n" + "\n".join(lines))


def created_table(lines: list[str]) -> str:
    match = re.match(r"CreateQuery privtrail (\w+)", lines[0])
    assert match, lines[0]
    return match.group(1)


def is_alter(statement: str) -> bool:
    return statement.lstrip().upper().startswith("ALTER")


def single_node_alters() -> list[str]:
    """The ALTER statements of the shipped migrations, in the order `db migrate` applies them."""
    return [s for m in load_migrations() for s in m.statements() if is_alter(s)]


def single_node(ch: Session) -> dict[str, str]:
    """Table name -> CREATE statement, split by migrate.py exactly as `db migrate` applies them."""
    out = {}
    for migration in load_migrations():
        for statement in migration.statements():
            if not is_alter(statement):
                out[created_table(ast(ch, statement))] = statement
    return out


def generated(ch: Session, cluster: str = CLUSTER) -> dict[str, str]:
    """Created table name -> generated statement (the CREATE DATABASE and ALTERs left out)."""
    statements = cluster_ddl(cluster)
    assert statements[0] == f"CREATE DATABASE IF NOT EXISTS privtrail ON CLUSTER '{cluster}'"
    out = {}
    for statement in statements[1:]:
        if is_alter(statement):
            continue
        name = created_table(ast(ch, statement))
        assert name not in out, f"{name} created twice"
        out[name] = statement
    return out


# -- ClickHouse parses every statement -----------------------------------------------------


@pytest.mark.parametrize("cluster", [CLUSTER, "{cluster}", "prod-eu.1"])
def test_every_statement_parses_and_names_the_cluster(ch: Session, cluster: str) -> None:
    statements = cluster_ddl(cluster)
    assert len(statements) == 1 + 2 * len(single_node(ch)) + len(single_node_alters())
    for statement in statements:
        text = formatted(ch, statement)  # raises on a syntax error
        # The formatter back-quotes the name only when it needs quoting.
        on_cluster = rf"ON CLUSTER (`{re.escape(cluster)}`|{re.escape(cluster)})(\s|$)"
        assert re.search(on_cluster, text.splitlines()[0]), text


def test_each_single_node_table_has_a_local_and_a_distributed_variant(
    ch: Session,
) -> None:
    tables = set(single_node(ch))
    assert {"events", "alerts", "checkpoints"} <= tables
    assert set(generated(ch)) == tables | {f"{t}_local" for t in tables}


def test_columns_and_indexes_are_those_of_the_single_node_table(
    ch: Session,
) -> None:
    ours = generated(ch)
    for name, statement in single_node(ch).items():
        expected = subtree(ast(ch, statement), "Columns definition")
        assert subtree(ast(ch, ours[f"{name}_local"]), "Columns definition") == expected, name
        # The Distributed table takes its columns from the local one (AS), never its own.
        assert not any("Columns definition" in x for x in ast(ch, ours[name])), name


def test_the_column_comparison_can_fail(ch: Session) -> None:
    tables = single_node(ch)
    events = subtree(ast(ch, tables["events"]), "Columns definition")
    retyped = re.sub(r"(\bleaf_index\s+)UInt64", r"\1UInt32", tables["events"])
    assert retyped != tables["events"]
    assert subtree(ast(ch, retyped), "Columns definition") != events


def test_local_tables_are_replicated_with_the_same_clauses(ch: Session) -> None:
    ours = generated(ch)
    for name, statement in single_node(ch).items():
        local = formatted(ch, ours[f"{name}_local"])
        source = re.search(
            r"^ENGINE = (\w*MergeTree)(?:\((.*)\))?\n", formatted(ch, statement), re.M
        )
        assert source, statement
        family, args = source.group(1), source.group(2)
        path = f"/clickhouse/tables/{{shard}}/privtrail/{name}_local"
        replicated = f"'{path}', '{{replica}}'" + (f", {args}" if args else "")
        engine = f"ENGINE = Replicated{family}({replicated})"
        assert engine in local.splitlines(), local
        assert "non_replicated_deduplication_window" not in local
        # Everything after the engine line (PARTITION BY, ORDER BY, SETTINGS) is unchanged but
        # for the one renamed setting.
        source_tail = formatted(ch, statement)[source.end() :]
        renamed = source_tail.replace(
            "non_replicated_deduplication_window", "replicated_deduplication_window"
        )
        assert local.split(engine + "\n", 1)[1] == renamed


EXPECTED_KEYS = {
    "events": "cityHash64(subject_id)",
    "alerts": "cityHash64(subject_id)",
    "checkpoints": "log_partition",
}


def test_distributed_tables_shard_by_subject_or_partition(ch: Session) -> None:
    ours = generated(ch)
    for name in single_node(ch):
        text = formatted(ch, ours[name])
        assert f"AS privtrail.{name}_local" in text, text
        engine = re.search(r"ENGINE = Distributed\('(.*?)', '(.*?)', '(.*?)', (.*)\)$", text)
        assert engine, text
        assert engine.groups()[:3] == (CLUSTER, "privtrail", f"{name}_local")
        assert engine.group(4) == EXPECTED_KEYS.get(name, engine.group(4)), name


def test_sharding_keys_are_integers_over_the_real_tables(ch: Session) -> None:
    # Create the single-node schema for real, then ask ClickHouse the type of each key.
    run(ch, "CREATE DATABASE IF NOT EXISTS privtrail")
    tables = single_node(ch)
    for statement in tables.values():
        run(ch, statement)
    ours = generated(ch)
    for name in tables:
        key = re.search(r", ([^,]+)\)$", formatted(ch, ours[name]))
        assert key, ours[name]
        described = run(ch, f"DESCRIBE (SELECT {key.group(1)} FROM privtrail.{name})")
        key_type = described.split("\t")[1]
        assert re.fullmatch(r"U?Int(8|16|32|64)", key_type), (name, key_type)


# -- the transform follows its input --------------------------------------------------------

TRICKY = """
-- a file comment; with a semicolon
CREATE TABLE IF NOT EXISTS privtrail.first /* block ( comment */
(
    subject_id String,  -- trailing comment (with a paren
    note       String DEFAULT 'a -- b; c (d',
    `odd name` UInt8 COMMENT 'it''s fine',
    INDEX idx_note note TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
ORDER BY subject_id
SETTINGS index_granularity = 4096, non_replicated_deduplication_window = 100;
CREATE TABLE privtrail.second (log_partition UInt32, v UInt64)
ENGINE = ReplacingMergeTree(v) ORDER BY log_partition
"""


def test_comments_quotes_and_several_statements_per_file(ch: Session) -> None:
    statements = cluster_ddl(CLUSTER, sources=[("ddl/9999_tricky.sql", TRICKY)])
    names = [created_table(ast(ch, s)) for s in statements[1:]]
    assert names == ["first_local", "first", "second_local", "second"]
    first, second = formatted(ch, statements[1]), formatted(ch, statements[3])
    assert "DEFAULT 'a -- b; c (d'" in first
    assert "COMMENT 'it\\'s fine'" in first
    assert "SETTINGS index_granularity = 4096, replicated_deduplication_window = 100" in first
    replacing = (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/privtrail/second_local', '{replica}', v)"
    )
    assert replacing in second.splitlines(), second
    assert statements[4].endswith("'second_local', log_partition)")


def test_a_change_to_the_single_node_ddl_flows_through() -> None:
    source = load_migrations()[0]
    edited = re.sub(r"(CREATE TABLE[^(]*\()", r"\1 new_column String,", source.sql, count=1)
    assert edited != source.sql
    (table,) = cluster_tables([("ddl/0001_events.sql", edited)])
    (original,) = cluster_tables([("ddl/0001_events.sql", source.sql)])
    assert table.column_names == ("new_column", *original.column_names)


def test_alters_apply_to_the_local_tables_with_the_same_commands(ch: Session) -> None:
    alters = single_node_alters()
    assert alters, "the shipped DDL has ALTERs (0004 adds a projection)"
    ours = [s for s in cluster_ddl(CLUSTER) if is_alter(s)]
    assert len(ours) == len(alters)
    for mine, theirs in zip(ours, alters, strict=True):
        text = formatted(ch, mine)  # parses
        assert re.match(r"ALTER TABLE privtrail\.\w+_local ON CLUSTER audit_cluster\s", text), text
        # Same table (plus _local), and the commands as ClickHouse parsed them are identical.
        head, local = ast(ch, theirs), ast(ch, mine)
        assert local[0] == re.sub(r"^(AlterQuery privtrail \w+)", r"\1_local", head[0])
        assert subtree(local, "ExpressionList") == subtree(head, "ExpressionList")


def test_alters_come_after_the_tables_they_change() -> None:
    statements = cluster_ddl(CLUSTER)
    for i, statement in enumerate(statements):
        if is_alter(statement):
            table = re.match(r"ALTER TABLE (privtrail\.\w+) ", statement)
            assert table, statement
            created = [s for s in statements[:i] if s.startswith("CREATE TABLE")]
            assert any(f"{table.group(1)} ON CLUSTER" in s for s in created), statement


SEVERAL = """
CREATE TABLE privtrail.t (subject_id String, k UInt8) ENGINE = MergeTree ORDER BY subject_id;
-- two commands, commas inside the projection
ALTER TABLE privtrail.t
    ADD PROJECTION IF NOT EXISTS p (SELECT k, subject_id ORDER BY (k, subject_id)),
    ADD INDEX IF NOT EXISTS i k TYPE set(16) GRANULARITY 4;
ALTER TABLE `privtrail`.`t` MATERIALIZE INDEX i
"""


def test_an_alter_with_several_commands(ch: Session) -> None:
    statements = cluster_ddl(CLUSTER, sources=[("ddl/9999_several.sql", SEVERAL)])
    assert [s.split("\n")[0] for s in statements[3:]] == [
        "ALTER TABLE privtrail.t_local ON CLUSTER 'audit_cluster'",
        "ALTER TABLE privtrail.t_local ON CLUSTER 'audit_cluster'",
    ]
    commands = subtree(ast(ch, statements[3]), "ExpressionList")
    assert [c.split()[1] for c in commands if c.strip().startswith("AlterCommand")] == [
        "ADD_PROJECTION",
        "ADD_INDEX",
    ]
    assert "MATERIALIZE INDEX i" in formatted(ch, statements[4])


BROKEN = {
    "alter": "ALTER TABLE privtrail.events ADD COLUMN x String",
    "alter_mixed": "ALTER TABLE privtrail.events ADD INDEX i type TYPE set(0) GRANULARITY 1, "
    "ADD COLUMN x String",
    "alter_update": "ALTER TABLE privtrail.events UPDATE reason = '' WHERE 1",
    "alter_delete": "ALTER TABLE privtrail.events DELETE WHERE 1",
    "alter_drop_projection": "ALTER TABLE privtrail.events DROP PROJECTION p",
    "alter_unknown_table": "ALTER TABLE privtrail.nowhere ADD INDEX i a TYPE set(0) GRANULARITY 1",
    "alter_other_db": "ALTER TABLE other.events ADD INDEX i a TYPE set(0) GRANULARITY 1",
    "view": "CREATE MATERIALIZED VIEW privtrail.v TO privtrail.t AS SELECT 1",
    "other_db": "CREATE TABLE other.t (subject_id String) ENGINE = MergeTree ORDER BY subject_id",
    "no_columns": "CREATE TABLE privtrail.t AS privtrail.u",
    "unclosed": "CREATE TABLE privtrail.t (subject_id String ENGINE = MergeTree ORDER BY a",
    "no_engine": "CREATE TABLE privtrail.t (subject_id String) ORDER BY subject_id",
    "as_select": "CREATE TABLE privtrail.t (subject_id String) ENGINE = MergeTree "
    "ORDER BY subject_id AS SELECT 'x'",
    "log_engine": "CREATE TABLE privtrail.t (subject_id String) ENGINE = Log",
    "replicated": "CREATE TABLE privtrail.t (subject_id String) "
    "ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY subject_id",
    "no_shard_key": "CREATE TABLE privtrail.t (a String) ENGINE = MergeTree ORDER BY a",
    "open_quote": "CREATE TABLE privtrail.t (subject_id String DEFAULT 'x) ENGINE = MergeTree",
    "open_comment": "CREATE TABLE privtrail.t (subject_id String) /* ENGINE = MergeTree",
}


@pytest.mark.parametrize("sql", BROKEN.values(), ids=BROKEN.keys())
def test_a_statement_it_does_not_understand_is_an_error(sql: str) -> None:
    good = load_migrations()[0]
    with pytest.raises(ClusterDDLError):
        cluster_ddl(sources=[("ddl/0001_events.sql", good.sql), ("ddl/0042_bad.sql", sql)])


def test_the_error_names_the_file_and_the_statement() -> None:
    with pytest.raises(ClusterDDLError, match=r"^ddl/0042_bad\.sql: .*ALTER TABLE") as info:
        cluster_ddl(sources=[("ddl/0042_bad.sql", "-- x\n" + BROKEN["alter"] + ";\n")])
    assert info.value.source == "ddl/0042_bad.sql"
    assert info.value.statement.startswith("ALTER TABLE privtrail.events")


def test_an_error_in_a_table_without_a_shard_key_names_its_file() -> None:
    sql = "CREATE TABLE privtrail.t (a String) ENGINE = MergeTree ORDER BY a"
    with pytest.raises(ClusterDDLError, match=r"^ddl/0042_bad\.sql: no sharding key: table t"):
        cluster_ddl(sources=[("ddl/0042_bad.sql", sql)])


def test_a_table_defined_twice_is_an_error() -> None:
    good = load_migrations()[0]
    with pytest.raises(ClusterDDLError, match=r"^ddl/0042_again\.sql: table events already in"):
        cluster_ddl(sources=[("ddl/0001_events.sql", good.sql), ("ddl/0042_again.sql", good.sql)])


@pytest.mark.parametrize("cluster", ["", "a b", "x'); DROP TABLE y; --", "{a}{b}"])
def test_a_cluster_name_that_would_need_quoting_is_refused(cluster: str) -> None:
    with pytest.raises(ClusterDDLError, match="cluster name"):
        cluster_ddl(cluster)


# -- the operator's script --------------------------------------------------------------------


def test_main_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cluster", CLUSTER]) == 0
    out = capsys.readouterr().out
    assert out == render_cluster_ddl(CLUSTER)
    body = "\n".join(line for line in out.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in re.split(r";$", body, flags=re.MULTILINE) if s.strip()]
    assert statements == cluster_ddl(CLUSTER)


def test_main_reports_a_bad_cluster_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cluster", "no good"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cluster name" in captured.err
