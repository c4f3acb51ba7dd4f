"""The ``privtrail`` command. Subcommands live in their own modules and load lazily,
so ``privtrail check`` does not import Faust or ClickHouse."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from privtrail.errors import PrivtrailError

# name -> (module:attribute, one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "stack": (
        "privtrail.cli.stack_cmd:stack",
        "Start, stop and inspect the local Kafka + ClickHouse stack.",
    ),
    "check": (
        "privtrail.cli.check_cmd:check",
        "Check JSON Lines events against the policy; print alerts.",
    ),
    "emit": ("privtrail.cli.sdk_cmd:emit", "Send JSON Lines events through the SDK."),
    "pseudonym": (
        "privtrail.cli.sdk_cmd:pseudonym",
        "Recompute a subject pseudonym (needs the key).",
    ),
    "worker": ("privtrail.cli.worker_cmd:worker", "Run the Faust stream worker."),
    "sink": ("privtrail.cli.sink_cmd:sink", "Run the ClickHouse sink."),
    "db": ("privtrail.cli.sink_cmd:db", "Database schema: migrate."),
    "verify": (
        "privtrail.cli.sink_cmd:verify",
        "Verify the stored history against signed checkpoints.",
    ),
    "prove": ("privtrail.cli.sink_cmd:prove", "Print an inclusion proof for one event."),
    "query": ("privtrail.cli.query_cmd:query", "Run an investigation query."),
    "report": ("privtrail.cli.query_cmd:report", "Render reports (access report for a subject)."),
    "demo": ("privtrail.cli.demo_cmd:demo", "Run the COLABOX demo scenario on the local stack."),
    "bench": ("privtrail.cli.bench_cmd:bench", "End-to-end benchmark of the whole pipeline."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or "a module"
            raise click.ClickException(
                f"'privtrail {cmd_name}' needs {missing}; install privtrail[server]"
            ) from exc
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="privtrail")
def cli() -> None:
    """privtrail: the privacy audit log."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point; library errors become one line on stderr and exit code 2."""
    try:
        return cli.main(args=argv, standalone_mode=True)
    except PrivtrailError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
