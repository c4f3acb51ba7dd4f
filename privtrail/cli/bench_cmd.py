"""``privtrail bench``: the whole pipeline under load on the local stack (docs/benchmarks.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


@click.command("bench")
@click.option(
    "--events",
    type=int,
    default=None,
    help="Events of the throughput phase (default 30,000; 4,000 with --quick).",
)
@click.option(
    "--rate",
    type=float,
    default=2000.0,
    show_default=True,
    help="Offered load of the latency phase, events/s.",
)
@click.option(
    "--seconds",
    "latency_seconds",
    type=float,
    default=None,
    help="Length of the latency phase (default 15 s; 4 s with --quick).",
)
@click.option(
    "--producers",
    type=int,
    default=2,
    show_default=True,
    help="Producer processes (each sends one shard of subjects through the SDK).",
)
@click.option("--subjects", type=int, default=None, help="Data subjects (default 10,000).")
@click.option("--actors", type=int, default=50, show_default=True, help="Staff actors.")
@click.option(
    "--violations",
    "violation_rate",
    type=float,
    default=0.02,
    show_default=True,
    help="Share of events built to violate the policy.",
)
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--sinks", type=int, default=1, show_default=True, help="Sink processes.")
@click.option(
    "--partitions", type=int, default=4, show_default=True, help="Partitions of the run's topics."
)
@click.option(
    "--baseline-events",
    type=int,
    default=None,
    help="Events for the bare baselines (default: as many as --events).",
)
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds any one phase may take.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--quick", is_flag=True, help="A few seconds of load (development, not numbers).")
@click.option("--keep-stack", is_flag=True, help="Leave a stack this command started running.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("bench-results/e2e.json"),
    show_default=True,
    help="Where to write the JSON results.",
)
def bench(
    out: Path,
    quick: bool,
    events: int | None,
    latency_seconds: float | None,
    subjects: int | None,
    baseline_events: int | None,
    **options: Any,
) -> None:
    """End-to-end benchmark: SDK -> Kafka -> worker -> sink -> ClickHouse, with baselines."""
    from privtrail.bench.report import add_ratios, table, write_json
    from privtrail.bench.runner import BenchOptions, run_bench

    given: dict[str, Any] = {
        k: v
        for k, v in {
            "events": events,
            "latency_seconds": latency_seconds,
            "subjects": subjects,
        }.items()
        if v is not None
    }
    opts = BenchOptions.quick(**options, **given) if quick else BenchOptions(**options, **given)
    opts = dataclasses.replace(opts, baseline_events=baseline_events or opts.events)
    if opts.producers < 1 or opts.workers < 1 or opts.sinks < 1 or opts.partitions < 1:
        raise click.BadParameter("--producers, --workers, --sinks and --partitions must be >= 1")
    console = Console(stderr=True)
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:

        def progress(phase: str, done: float, total: float) -> None:
            if phase not in tasks:
                for task in tasks.values():  # a new phase: the previous one is over
                    bar.update(task, completed=bar.tasks[task].total)
                tasks[phase] = bar.add_task(phase, total=max(total, 1))
            bar.update(tasks[phase], completed=done, total=max(total, 1))

        result = add_ratios(run_bench(opts, progress))
    write_json(result, out)
    Console().print(table(result))
    click.echo(f"results written to {out}")
