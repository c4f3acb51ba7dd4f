"""``privtrail query`` and ``privtrail report``: investigations as the read-only investigator.

Connection settings come from the environment (``PRIVTRAIL_CLICKHOUSE_URL``,
``PRIVTRAIL_CH_INVESTIGATOR_USER``, ``PRIVTRAIL_CH_INVESTIGATOR_PASSWORD``; see
:class:`privtrail.sinks.settings.SinkSettings`). Parameters marked ``[policy]`` are filled
from the policy (``--policy FILE``, default the bundled COLABOX policy) unless given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from privtrail.policy import Policy, default_policy, load_policy
from privtrail.queries import (
    QueryError,
    QueryResult,
    list_queries,
    load_query,
    policy_parameters,
    run_query,
)
from privtrail.queries.formats import to_csv, to_json, to_markdown
from privtrail.queries.types import parse_instant
from privtrail.tlog import NoteVerifier

ROLE = "investigator"


def open_client(role: str = ROLE) -> Any:
    """A clickhouse-connect client from the environment, as ``investigator`` by default."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from privtrail.sinks.settings import SinkSettings, connect

    settings = SinkSettings.from_env()
    try:
        return connect(settings, role)
    except ClickHouseError as exc:
        user = getattr(settings, role).name
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise click.ClickException(
            f"cannot connect to ClickHouse at {settings.clickhouse_url} as {user!r}: {first}"
        ) from exc


def _policy(path: str | None) -> Policy:
    return load_policy(path) if path else default_policy()


def _params(name: str, pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        if key in out:
            raise click.BadParameter(f"{key!r} given twice", param_hint="--param")
        out[key] = value
    load_query(name)  # unknown names fail here, before connecting
    return out


def _print_table(result: QueryResult, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from privtrail.queries.formats import cell_text

    table = Table(title=title)
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(*(cell_text(v) for v in row))
    Console().print(table)


def _print_list() -> None:
    for q in list_queries():
        click.echo(f"{q.name}\n  {q.question}\n  Duty: {q.duty}")
        for p in q.params:
            mark = " [policy]" if p.from_policy else ""
            click.echo(f"    --param {p.name}=<{p.type}>{mark}  {p.description}")
        click.echo("")


@click.command("query")
@click.argument("name", required=False)
@click.option(
    "--param",
    "-p",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A query parameter; repeat for each. Times are RFC 3339 (…Z).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option("--list", "list_", is_flag=True, help="List every query and its question.")
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Policy file for the [policy] parameters (default: bundled COLABOX).",
)
def query(
    name: str | None, pairs: tuple[str, ...], fmt: str, list_: bool, policy_path: str | None
) -> None:
    """Run the investigation NAME (see --list) as the read-only investigator."""
    if list_ or name is None:
        _print_list()
        return
    try:
        values = _params(name, pairs)
        defaults = policy_parameters(_policy(policy_path))
        result = run_query(open_client(), name, values, defaults=defaults)
    except QueryError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "table":
        _print_table(result, name)
    else:
        render = {"csv": to_csv, "json": to_json, "markdown": to_markdown}[fmt]
        click.echo(render(result), nl=False)


@click.group("report")
def report() -> None:
    """Render reports from the audit history."""


def _verifiers(keys: tuple[str, ...]) -> list[NoteVerifier] | None:
    from privtrail.sinks.settings import DEV_KEY_FILE, SinkSettings, load_verifiers

    settings = SinkSettings.from_env()
    verifiers: list[NoteVerifier]
    if keys or settings.verifier_key:
        verifiers = load_verifiers(settings, list(keys))
        return verifiers
    from privtrail.config import privtrail_home

    # Only the development key already on disk; never generate one in a read-only command.
    if (privtrail_home() / DEV_KEY_FILE).exists():
        verifiers = load_verifiers(settings)
        return verifiers
    return None


@report.command("access")
@click.option("--subject", required=True, help="The subject's pseudonym.")
@click.option("--as-of", "as_of", help="Report up to this instant (RFC 3339; default now).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html"]),
    default="markdown",
    show_default=True,
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to FILE instead of stdout.",
)
@click.option(
    "--verifier-key",
    "keys",
    multiple=True,
    help="Checkpoint verifier key (default PRIVTRAIL_CHECKPOINT_VERIFIER_KEY).",
)
def access(
    subject: str, as_of: str | None, fmt: str, out: str | None, keys: tuple[str, ...]
) -> None:
    """The access report a subject is owed (COLABOX §7.5), with inclusion proofs."""
    from privtrail.queries.report import build_access_report, render_html, render_markdown

    try:
        instant = parse_instant(as_of) if as_of else datetime.now(UTC)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from exc
    try:
        built = build_access_report(open_client(), subject, instant, verifiers=_verifiers(keys))
    except QueryError as exc:
        raise click.ClickException(str(exc)) from exc
    text = render_html(built) if fmt == "html" else render_markdown(built)
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
