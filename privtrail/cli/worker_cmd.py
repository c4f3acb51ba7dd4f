"""``privtrail worker``: run the Faust stream worker (validate, enforce, deadlines, notify)."""

from __future__ import annotations

import sys

import click

from privtrail.config import privtrail_home


def _local_bootstrap() -> str:
    """The local stack's broker (``privtrail stack up``), from its state file or defaults."""
    from privtrail.stack.manager import read_state
    from privtrail.stack.ports import StackPorts

    ports = StackPorts.from_env(fallback=read_state(privtrail_home()))
    return f"127.0.0.1:{ports.kafka}"


@click.command("worker")
@click.option(
    "--bootstrap",
    metavar="HOST:PORT[,...]",
    help="Kafka bootstrap servers (default: $PRIVTRAIL_BOOTSTRAP_SERVERS, else the local stack).",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    metavar="N",
    help="Partitions of every topic and table (default 4). Topics are created up "
    "front; existing co-partitioned topics must match.",
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help="POST each alert here (repeatable); needs $PRIVTRAIL_WORKER_WEBHOOK_SECRET.",
)
@click.option(
    "--web-port",
    type=click.IntRange(min=0, max=65535),
    metavar="PORT",
    help="Port of the worker's web server on 127.0.0.1 (default: a free port).",
)
@click.option(
    "--app-id", metavar="ID", help="Consumer group and table prefix (default privtrail-worker)."
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Policy YAML (default: the bundled COLABOX policy).",
)
@click.option(
    "--loglevel",
    "log_level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level (default info).",
)
def worker(
    bootstrap: str | None,
    partitions: int | None,
    webhooks: tuple[str, ...],
    web_port: int | None,
    app_id: str | None,
    policy_path: str | None,
    log_level: str | None,
) -> None:
    """Run the stream worker until interrupted (Ctrl-C or SIGTERM stop it cleanly)."""
    from pathlib import Path

    import faust

    from privtrail.streams.app import build_app
    from privtrail.streams.collector import tune_collector
    from privtrail.streams.settings import WorkerSettings
    from privtrail.streams.topics import ensure_topics

    settings = WorkerSettings.from_env(
        fallback_bootstrap=_local_bootstrap,
        bootstrap=bootstrap,
        app_id=app_id,
        partitions=partitions,
        web_port=web_port,
        log_level=log_level,
        webhooks=webhooks or None,
        policy_path=Path(policy_path) if policy_path else None,
    )
    created = ensure_topics(settings)
    if created:
        click.echo(f"created topics: {', '.join(created)}", err=True)
    topo = build_app(settings)
    click.echo(
        f"worker {settings.app_id}: {settings.bootstrap}, {settings.partitions} partitions, "
        f"web http://{settings.web_host}:{topo.app.conf.web_port}/",
        err=True,
    )
    runner = faust.Worker(
        topo.app,
        loglevel=settings.log_level,
        quiet=True,
        workdir=str(settings.data_dir),
        logging_config=plain_logging(settings.log_level) if not _isatty(sys.stdout) else None,
    )
    # Faust's terminal spinner sets the root logger to DEBUG when the level is warning or
    # above, so every debug record of Faust and aiokafka gets built (about a tenth of the
    # worker's time) and escape codes land in log files. No spinner, no DEBUG.
    runner.spinner = None
    tune_collector()  # last, so the app and the runner are frozen too
    runner.execute_from_commandline()


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def plain_logging(level: str) -> dict[str, object]:
    """mode's logging set-up with its plain formatter instead of colorlog's, for a
    worker whose output is a file or a pipe (a supervisor's log, not a terminal).

    Same lines, without escape codes; colorlog's formatter built a table of escape
    codes for every record, and the worker logs a line per alert (about 5 % of its CPU
    at one alert per ten events, in a profile)."""
    from mode.utils.logging import create_logconfig, level_number

    number = level_number(level)
    handler = {
        "level": number,
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stdout",
    }
    config: dict[str, object] = create_logconfig(
        handlers={"default": handler}, root={"level": number, "handlers": ["default"]}
    )
    return config
