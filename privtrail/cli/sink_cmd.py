"""``privtrail sink``, ``db migrate``, ``verify`` and ``prove``: the ClickHouse history."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from privtrail.sinks.settings import SinkSettings, connect, load_signer, load_verifiers


@click.command()
@click.option("--metrics-port", type=int, default=None, help="Serve /metrics on this port.")
@click.option("-v", "--verbose", is_flag=True, help="Log each batch and checkpoint.")
def sink(metrics_port: int | None, verbose: bool) -> None:
    """Run the ClickHouse sink until SIGTERM or Ctrl-C (then flush and checkpoint)."""
    from privtrail.sinks.metrics import SinkMetrics
    from privtrail.sinks.sink import Sink
    from privtrail.sinks.store import HistoryStore

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:  # kafka-python logs every rebalance step at INFO
        logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = SinkSettings.from_env()
    metrics = SinkMetrics()
    port = settings.metrics_port if metrics_port is None else metrics_port
    if port:
        metrics.serve(port)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner = Sink(
        settings, HistoryStore(connect(settings, "writer")), load_signer(settings), metrics
    )
    # Everything imported so far lives as long as the process: moved out of the collector's
    # generations, full collections stop walking it (15-25 % of the sink's CPU otherwise).
    gc.freeze()
    runner.run(stop)


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@click.option(
    "--cluster",
    metavar="NAME",
    default=None,
    help="Emit the replicated-cluster variant of the DDL for this cluster.",
)
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Print the statements instead of applying them (required with --cluster).",
)
def migrate(cluster: str | None, print_only: bool) -> None:
    """Apply the schema migrations not applied yet (as the ClickHouse admin user)."""
    from privtrail.sinks.migrate import load_migrations
    from privtrail.sinks.migrate import migrate as run_migrations

    if cluster is not None or print_only:
        if cluster is None:
            for m in load_migrations():
                for statement in m.statements():
                    click.echo(statement.rstrip().rstrip(";") + ";\n")
            return
        if not print_only:
            raise click.UsageError(
                "--cluster only prints the cluster DDL (add --print); apply it with "
                "clickhouse-client on a cluster node"
            )
        from privtrail.sinks.cluster import write_cluster_ddl

        write_cluster_ddl(sys.stdout, cluster)
        return
    applied = run_migrations(connect(SinkSettings.from_env(), "admin"))
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")
    if not applied:
        click.echo("schema is up to date")


@click.command()
@click.option("--partition", type=int, default=None, help="Only this partition.")
@click.option("--topic", default=None, help="Log topic (default: the valid-events topic).")
@click.option(
    "--verifier-key", "verifier_keys", multiple=True, help="Trusted checkpoint verifier key."
)
@click.option(
    "--allow-pending",
    is_flag=True,
    help="Do not fail on rows newer than the latest checkpoint (a sink is running).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--workers", type=int, default=1, help="Partitions verified at once.")
def verify(
    partition: int | None,
    topic: str | None,
    verifier_keys: tuple[str, ...],
    allow_pending: bool,
    as_json: bool,
    workers: int,
) -> None:
    """Recompute every partition's Merkle tree and check it against the signed checkpoints.

    Exits 1 when anything was changed, removed or inserted behind the sink's back.
    """
    from privtrail.sinks.verify import verify_history

    settings = SinkSettings.from_env()
    report = verify_history(
        connect(settings, "investigator"),
        topic or settings.topics.valid,
        load_verifiers(settings, list(verifier_keys)),
        origin=settings.origin,
        partition=partition,
        allow_pending=allow_pending,
        connect=lambda: connect(settings, "investigator"),
        workers=workers,
    )
    click.echo(report.to_json() if as_json else report.render())
    if not report.ok:
        sys.exit(1)


@click.command()
@click.argument("event_id", required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--consistency",
    nargs=2,
    type=int,
    default=None,
    metavar="OLD_SIZE NEW_SIZE",
    help="Prove two checkpoints of --partition consistent instead.",
)
@click.option("--partition", type=int, default=None, help="Partition (with --consistency).")
@click.option("--topic", default=None, help="Log topic (default: the valid-events topic).")
def prove(
    event_id: str | None,
    out: Path | None,
    consistency: tuple[int, int] | None,
    partition: int | None,
    topic: str | None,
) -> None:
    """Print a proof bundle: EVENT_ID's inclusion in its partition's latest checkpoint,
    or (with --consistency) that an older checkpoint is a prefix of a newer one."""
    from privtrail.sinks.prove import prove_consistency, prove_event

    settings = SinkSettings.from_env()
    client = connect(settings, "investigator")
    verifiers = load_verifiers(settings)
    log_topic = topic or settings.topics.valid
    if consistency is not None:
        if partition is None:
            raise click.UsageError("--consistency needs --partition")
        text = prove_consistency(client, log_topic, partition, *consistency, verifiers)
    elif event_id:
        text = prove_event(client, event_id, verifiers, topic=topic)
    else:
        raise click.UsageError("give an EVENT_ID, or --consistency OLD NEW --partition N")
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
