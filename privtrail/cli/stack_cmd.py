"""``privtrail stack up | down | status``: the local Apache Kafka + ClickHouse stack.

Errors are :class:`privtrail.errors.StackError`; ``privtrail.cli.main`` prints them as one
line. State lives under ``$PRIVTRAIL_HOME``; see docs/operations.md.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from privtrail.stack import Stack, StackStatus


def _table(status: StackStatus) -> Table:
    table = Table(title=f"privtrail stack ({status.home})", title_justify="left")
    table.add_column("server")
    table.add_column("address")
    table.add_column("state")
    table.add_column("pid", justify="right")

    def state(up: bool, pid: int | None) -> str:
        if up:
            return "[green]up[/green]"
        return "[red]not answering[/red]" if pid is not None else "[red]down[/red]"

    table.add_row(
        "kafka",
        status.kafka_bootstrap,
        state(status.kafka_up, status.kafka_pid),
        str(status.kafka_pid or "-"),
    )
    table.add_row(
        "clickhouse",
        f"{status.clickhouse_http} (tcp {status.clickhouse_tcp})",
        state(status.clickhouse_up, status.clickhouse_pid),
        str(status.clickhouse_pid or "-"),
    )
    return table


@click.group()
def stack() -> None:
    """Start, stop and inspect the local Kafka + ClickHouse stack."""


@stack.command()
def up() -> None:
    """Start Kafka and ClickHouse (if not running) and wait until both answer."""
    console = Console(stderr=True)
    local = Stack.from_env()
    with console.status("starting Kafka and ClickHouse..."):
        status = local.up()
    Console().print(_table(status))


@stack.command()
def down() -> None:
    """Stop the servers this stack started; data and topics stay."""
    local = Stack.from_env()
    stopped = local.down()
    if stopped:
        click.echo(f"stopped {', '.join(stopped)} (data kept in {local.home})")
    else:
        click.echo(f"nothing was running in {local.home}")


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show where the servers listen and whether they answer; exit 1 if any is down."""
    current = Stack.from_env().status()
    if as_json:
        click.echo(current.to_json())
    else:
        Console().print(_table(current))
    if not current.up:
        ctx.exit(1)
