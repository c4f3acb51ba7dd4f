"""The replicated-cluster variant of the ``privtrail`` DDL, derived from the single-node files.

There is one schema source: ``sinks/ddl/*.sql``, the files ``privtrail db migrate`` applies to
a single server. A second, hand-kept copy for clusters would drift from it, so this module
transforms those files instead. Each ``CREATE TABLE privtrail.X (...) ENGINE = MergeTree ...``
becomes two statements, both ``ON CLUSTER``:

* ``privtrail.X_local``: the same columns, indexes and clauses on a ``ReplicatedMergeTree``
  whose Keeper path names the shard (``{shard}``/``{replica}`` are server macros, expanded by
  each node), with ``non_replicated_deduplication_window`` renamed to its replicated
  counterpart so retried inserts are still dropped;
* ``privtrail.X``: a ``Distributed`` table over the ``_local`` tables, under the single-node
  name, so the sink and the queries need no change. Its sharding key keeps one subject's rows
  on one shard (see :func:`sharding_key`).

An ``ALTER TABLE privtrail.X`` of a table created by an earlier file becomes
``ALTER TABLE privtrail.X_local ON CLUSTER`` when all it does is add or materialize a
projection or a skipping index: those live in the local tables' parts only (ClickHouse runs
such an ALTER of a replicated table on one replica per shard and replicates it). Any other
``ALTER`` (a column would need the Distributed table changed too; an UPDATE or DELETE has no
place in an append-only history), a view, or a non-MergeTree table raises
:class:`ClusterDDLError` naming the file: a cluster statement guessed wrongly is worse than
none. Run ``python -m privtrail.sinks.cluster --cluster NAME`` to print the statements.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from privtrail.errors import PrivtrailError
from privtrail.sinks.migrate import DATABASE, load_migrations

__all__ = [
    "ClusterDDLError",
    "TableAlter",
    "TableDef",
    "cluster_ddl",
    "cluster_statements",
    "cluster_tables",
    "distributed_statement",
    "local_statement",
    "local_alter_statement",
    "main",
    "parse_alter_table",
    "parse_create_table",
    "render_cluster_ddl",
    "sharding_key",
    "write_cluster_ddl",
]

LOCAL_SUFFIX = "_local"
ZOOKEEPER_PATH = "/clickhouse/tables/{shard}/" + DATABASE + "/{table}"

# A cluster name from remote_servers, or a server macro such as {cluster}. Anything else
# (quotes, spaces) would have to be escaped inside the statements; refusing it is simpler.
_CLUSTER = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_.\-]*|\{[A-Za-z_][A-Za-z0-9_]*\})$")
_IDENT = r"(?:`[^`]+`|\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_]*)"
_CREATE = re.compile(
    rf"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<db>{_IDENT})\s*\.\s*(?P<name>{_IDENT})\s*",
    re.IGNORECASE,
)
_ENGINE = re.compile(r"^ENGINE\s*=?\s*(?P<engine>[A-Za-z]+)\s*", re.IGNORECASE)
_SETTINGS = re.compile(r"\bSETTINGS\b", re.IGNORECASE)
_NON_REPLICATED_DEDUP = re.compile(r"\bnon_replicated_deduplication_window(?=\s*=)")
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.IGNORECASE)
_ALTER = re.compile(
    rf"^ALTER\s+TABLE\s+(?P<db>{_IDENT})\s*\.\s*(?P<name>{_IDENT})\s+(?P<commands>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)
# The ALTER commands with a cluster variant: parts-only structures, no column, no mutation
# of rows. ON CLUSTER goes between the table name and the commands.
_LOCAL_ALTER = re.compile(r"^(?:ADD|MATERIALIZE)\s+(?:PROJECTION|INDEX)\s", re.IGNORECASE)
_NOT_COLUMNS = {"INDEX", "PROJECTION", "CONSTRAINT", "PRIMARY"}


# -- a little SQL lexing: enough to find comments, statements and parentheses -------------
# Quoted text ('string', "identifier", `identifier`) may hold any of -- ; ( ) , so every
# structural search runs on a copy with quoted text blanked out, at the same offsets.


def _quote_end(sql: str, start: int) -> int:
    """Offset just past the quoted token opening at ``start`` (backslash and doubled quotes)."""
    quote, i = sql[start], start + 1
    while i < len(sql):
        if sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql[i + 1 : i + 2] != quote:
                return i + 1
            i += 2
        else:
            i += 1
    raise ValueError(f"unterminated {quote} quote at offset {start}")


def _strip_comments(sql: str) -> str:
    """``sql`` without ``-- ...`` and ``/* ... */`` comments (those inside quotes stay)."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        if sql[i] in "'\"`":
            end = _quote_end(sql, i)
            out.append(sql[i:end])
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise ValueError(f"unterminated /* comment at offset {i}")
            out.append(" ")
            i = end + 2
        else:
            out.append(sql[i])
            i += 1
    return "".join(out)


def _mask_literals(text: str) -> str:
    """``text`` with every quoted token replaced by spaces of the same length."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] in "'\"`":
            end = _quote_end(text, i)
            out.append(" " * (end - i))
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _split_top_level(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` outside quotes and parentheses."""
    parts, depth, last = [], 0, 0
    for i, c in enumerate(_mask_literals(text)):
        depth += (c == "(") - (c == ")")
        if c == sep and depth == 0:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return [p for p in parts if p.strip()]


def _split_statements(sql: str) -> list[str]:
    """The ``;``-separated statements of comment-free ``sql``, stripped, empty ones dropped."""
    return [s.strip() for s in _split_top_level(sql, ";")]


def _closing_paren(text: str, start: int) -> int:
    """Offset of the ``)`` matching the ``(`` at ``start``, or -1 if it never closes."""
    depth = 0
    mask = _mask_literals(text)
    for i in range(start, len(mask)):
        depth += (mask[i] == "(") - (mask[i] == ")")
        if depth == 0:
            return i
    return -1


class ClusterDDLError(PrivtrailError, ValueError):
    """A single-node statement has no cluster variant this module knows how to derive.

    ``source`` names the file (``ddl/0001_events.sql``) and ``statement`` starts the text.
    """

    def __init__(self, source: str, statement: str, message: str) -> None:
        self.source = source
        self.statement = statement
        head = " ".join(statement.split())[:80]
        super().__init__(f"{source}: {message} (statement: {head!r})")


@dataclass(frozen=True, slots=True)
class TableDef:
    """One single-node ``CREATE TABLE``, split into the parts the cluster variant reuses."""

    name: str
    columns: str  # what stands between the parentheses, comments removed
    column_names: tuple[str, ...]
    engine: str  # a MergeTree-family engine, e.g. "MergeTree"
    engine_args: str  # what stands between the engine's parentheses, or ""
    clauses: str  # PARTITION BY / ORDER BY / ... / SETTINGS, verbatim minus comments
    source: str = "<ddl>"  # the file it came from, for error messages
    statement: str = ""  # the statement as parsed, for error messages


def _unquote(identifier: str) -> str:
    return identifier[1:-1] if identifier[:1] in '`"' else identifier


def _column_names(columns: str) -> tuple[str, ...]:
    names = []
    for element in _split_top_level(columns, ","):
        match = re.match(_IDENT, element.strip())
        if match is None:
            raise ValueError(f"cannot read a column name in {element.strip()[:40]!r}")
        if match.group(0).upper() not in _NOT_COLUMNS:
            names.append(_unquote(match.group(0)))
    return tuple(names)


def _match_table(pattern: re.Pattern[str], statement: str, source: str, form: str) -> re.Match[str]:
    """``pattern``'s match of ``statement`` (a table statement of the ``form`` given), on
    a table of the privtrail database."""
    match = pattern.match(statement)
    if match is None:
        raise ClusterDDLError(source, statement, f"only {form} is understood")
    if _unquote(match.group("db")) != DATABASE:
        raise ClusterDDLError(source, statement, f"table must be in database {DATABASE!r}")
    return match


def parse_create_table(statement: str, source: str = "<ddl>") -> TableDef:
    """Split a comment-free single-node ``CREATE TABLE privtrail.X (...) ENGINE = ...``."""
    create = _match_table(_CREATE, statement, source, f"CREATE TABLE {DATABASE}.<name> (...)")
    name = _unquote(create.group("name"))
    start = create.end()
    if statement[start : start + 1] != "(":
        raise ClusterDDLError(source, statement, "expected a column list after the table name")
    end = _closing_paren(statement, start)
    if end < 0:
        raise ClusterDDLError(source, statement, "the column list is never closed")
    columns = statement[start + 1 : end]
    tail = statement[end + 1 :].strip()
    engine = _ENGINE.match(tail)
    if engine is None:
        raise ClusterDDLError(source, statement, "expected ENGINE = ... after the column list")
    kind = engine.group("engine")
    if not kind.endswith("MergeTree") or kind.startswith("Replicated"):
        raise ClusterDDLError(source, statement, f"engine {kind} has no replicated variant here")
    rest, args = tail[engine.end() :], ""
    if rest.startswith("("):
        close = _closing_paren(rest, 0)
        if close < 0:
            raise ClusterDDLError(source, statement, "the engine arguments are never closed")
        args, rest = rest[1:close].strip(), rest[close + 1 :]
    if _AS_SELECT.search(_mask_literals(rest)):
        # Copying a populating SELECT to every replica would insert its rows once per node.
        raise ClusterDDLError(source, statement, "CREATE TABLE ... AS SELECT is not supported")
    try:
        names = _column_names(columns)
    except ValueError as exc:
        raise ClusterDDLError(source, statement, str(exc)) from exc
    return TableDef(name, columns, names, kind, args, rest.strip(), source, statement)


@dataclass(frozen=True, slots=True)
class TableAlter:
    """One single-node ``ALTER TABLE privtrail.X`` whose commands all have a cluster variant."""

    name: str
    commands: tuple[str, ...]  # each ``ADD|MATERIALIZE PROJECTION|INDEX ...``, as written
    source: str = "<ddl>"
    statement: str = ""


def parse_alter_table(statement: str, source: str = "<ddl>") -> TableAlter:
    """Split a comment-free ``ALTER TABLE privtrail.X cmd, cmd`` into table and commands."""
    alter = _match_table(_ALTER, statement, source, f"ALTER TABLE {DATABASE}.<name> ...")
    commands = tuple(c.strip() for c in _split_top_level(alter.group("commands"), ","))
    for command in commands:
        if not _LOCAL_ALTER.match(command + " "):
            head = " ".join(command.split()[:3])
            raise ClusterDDLError(
                source,
                statement,
                f"ALTER {head!r} has no cluster variant here (only ADD/MATERIALIZE "
                "PROJECTION/INDEX)",
            )
    return TableAlter(_unquote(alter.group("name")), commands, source, statement)


def _parse_statement(statement: str, source: str) -> TableDef | TableAlter:
    if re.match(r"ALTER\b", statement, re.IGNORECASE):
        return parse_alter_table(statement, source)
    return parse_create_table(statement, source)


def sharding_key(table: TableDef) -> str:
    """The Distributed sharding expression for ``table``.

    Rows with a ``subject_id`` go by ``cityHash64(subject_id)``: one subject's history sits on
    one shard (a subject's report or erasure check touches one shard's data), and the shard
    does not depend on the Kafka partition count, so adding partitions moves nobody. Tables
    without subjects but with ``log_partition`` (checkpoints) go by partition, which keeps each
    Merkle log's checkpoints together. Any other table is an error, not a random guess.
    """
    if "subject_id" in table.column_names:
        return "cityHash64(subject_id)"
    if "log_partition" in table.column_names:
        return "log_partition"
    raise ClusterDDLError(
        table.source,
        table.statement or table.name,
        f"no sharding key: table {table.name} has neither subject_id nor log_partition",
    )


def _settings(clauses: str) -> str:
    # Only the SETTINGS clause is rewritten; a COMMENT mentioning the name stays as written.
    match = _SETTINGS.search(_mask_literals(clauses))
    if match is None:
        return clauses
    head, settings = clauses[: match.start()], clauses[match.start() :]
    return head + _NON_REPLICATED_DEDUP.sub("replicated_deduplication_window", settings)


def _block(text: str, indent: str = "") -> str:
    # Re-indents the column list for the operator's eyes. (A string literal spanning lines
    # would be re-indented too; the DDL has none, and ClickHouse's parse check would not
    # notice, so keep literals on one line.)
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return textwrap.indent(textwrap.dedent("\n".join(lines)), indent)


def local_statement(table: TableDef, cluster: str) -> str:
    """``CREATE TABLE privtrail.X_local ON CLUSTER`` on ReplicatedMergeTree."""
    local = table.name + LOCAL_SUFFIX
    path = ZOOKEEPER_PATH.format(shard="{shard}", table=local)
    args = f"'{path}', '{{replica}}'" + (f", {table.engine_args}" if table.engine_args else "")
    parts = [
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{local} ON CLUSTER '{cluster}'",
        "(",
        _block(table.columns, "    "),
        ")",
        f"ENGINE = Replicated{table.engine}({args})",
    ]
    if table.clauses:
        parts.append(_block(_settings(table.clauses)))
    return "\n".join(parts)


def distributed_statement(table: TableDef, cluster: str) -> str:
    """``CREATE TABLE privtrail.X ON CLUSTER ... AS privtrail.X_local ENGINE = Distributed``."""
    local = table.name + LOCAL_SUFFIX
    return (
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table.name} ON CLUSTER '{cluster}'\n"
        f"AS {DATABASE}.{local}\n"
        f"ENGINE = Distributed('{cluster}', '{DATABASE}', '{local}', {sharding_key(table)})"
    )


def local_alter_statement(alter: TableAlter, cluster: str) -> str:
    """``ALTER TABLE privtrail.X_local ON CLUSTER ...`` with the same commands."""
    commands = ",\n".join(_block(c, "    ") for c in alter.commands)
    return f"ALTER TABLE {DATABASE}.{alter.name}{LOCAL_SUFFIX} ON CLUSTER '{cluster}'\n{commands}"


def _shipped_sources() -> list[tuple[str, str]]:
    # The very files and order `privtrail db migrate` applies to a single server.
    return [(f"ddl/{m.version:04d}_{m.name}.sql", m.sql) for m in load_migrations()]


def cluster_statements(
    sources: Iterable[tuple[str, str]] | None = None,
) -> list[TableDef | TableAlter]:
    """Every statement of the single-node DDL, parsed, in the order ``db migrate`` applies them.

    ``sources`` are ``(label, sql)`` pairs (default: the shipped files). An ``ALTER`` must name
    a table created by an earlier statement: the cluster variant has to know it is ours.
    """
    parsed: list[TableDef | TableAlter] = []
    tables: dict[str, TableDef] = {}
    for label, sql in _shipped_sources() if sources is None else sources:
        try:
            statements = _split_statements(_strip_comments(sql))
        except ValueError as exc:
            raise ClusterDDLError(label, sql, str(exc)) from exc
        for statement in statements:
            item = _parse_statement(statement, label)
            if isinstance(item, TableAlter):
                if item.name not in tables:
                    raise ClusterDDLError(
                        label, statement, f"ALTER of table {item.name}, not created before it"
                    )
            elif item.name in tables:
                # IF NOT EXISTS would make a second definition a silent no-op on one server,
                # whichever of the two the cluster got: refuse the ambiguity instead.
                first = tables[item.name].source
                raise ClusterDDLError(label, statement, f"table {item.name} already in {first}")
            else:
                tables[item.name] = item
            parsed.append(item)
    return parsed


def cluster_tables(sources: Iterable[tuple[str, str]] | None = None) -> list[TableDef]:
    """Every table of the single-node DDL (``(label, sql)`` pairs; default: shipped files)."""
    return [s for s in cluster_statements(sources) if isinstance(s, TableDef)]


def cluster_ddl(
    cluster: str = "privtrail", *, sources: Iterable[tuple[str, str]] | None = None
) -> list[str]:
    """The statements that create the ``privtrail`` schema on a replicated cluster, in order.

    ``cluster`` is a ``remote_servers`` cluster name (or a macro such as ``{cluster}``). The
    list starts with ``CREATE DATABASE ... ON CLUSTER``, then for each table of the single-node
    DDL its ``_local`` replicated table and the Distributed table over it, and for each
    ``ALTER`` its ``_local`` variant, in file order. Every statement is idempotent (``IF NOT
    EXISTS``, or a MATERIALIZE that rebuilds the same thing). ``sources`` replaces the shipped
    ``ddl/*.sql`` files with ``(label, sql)`` pairs (tests). Raises :class:`ClusterDDLError`.
    """
    if not _CLUSTER.match(cluster):
        raise ClusterDDLError("cluster", cluster, "not a valid cluster name or {macro}")
    out = [f"CREATE DATABASE IF NOT EXISTS {DATABASE} ON CLUSTER '{cluster}'"]
    for item in cluster_statements(sources):
        if isinstance(item, TableAlter):
            out.append(local_alter_statement(item, cluster))
        else:
            out.append(local_statement(item, cluster))
            out.append(distributed_statement(item, cluster))
    return out


def render_cluster_ddl(cluster: str = "privtrail") -> str:
    """:func:`cluster_ddl` as one SQL script, ``;``-terminated, for an operator to apply."""
    header = (
        f"-- privtrail schema for ClickHouse cluster '{cluster}', generated from sinks/ddl/*.sql\n"
        "-- by privtrail.sinks.cluster. Needs the {shard} and {replica} macros on every node.\n"
    )
    return header + "".join(f"\n{s};\n" for s in cluster_ddl(cluster))


def write_cluster_ddl(out: TextIO, cluster: str = "privtrail") -> None:
    """Write :func:`render_cluster_ddl` to ``out`` (what ``db migrate --cluster --print`` does)."""
    out.write(render_cluster_ddl(cluster))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m privtrail.sinks.cluster [--cluster NAME]``: the script on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cluster", default="privtrail", help="remote_servers cluster name")
    args = parser.parse_args(argv)
    try:
        write_cluster_ddl(sys.stdout, args.cluster)
    except ClusterDDLError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
