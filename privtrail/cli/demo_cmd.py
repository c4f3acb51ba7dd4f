"""``privtrail demo``: the COLABOX scenario through the real pipeline on the local stack.

SDK -> Kafka -> Faust worker (validate, enforce) -> alerts -> sink -> ClickHouse, then the
alerts and one subject's timeline read back as the investigator. The worker and the sink
run as child processes for the length of the demo; the stack must already be up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from privtrail.config import privtrail_home
from privtrail.errors import StackError
from privtrail.events import parse_event


def _child(name: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"demo-{name}.log").open("ab")
    return subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "privtrail.cli.main", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def _wait_for_alerts(
    client: Any,
    prefix: str,
    expected: set[tuple[str, str]],
    timeout: float,
    children: list[subprocess.Popen[bytes]],
    console: Console,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    with console.status("waiting for the alerts to land in ClickHouse ...") as status:
        while time.monotonic() < deadline:
            for child in children:
                if child.poll() is not None:
                    raise StackError(
                        f"a demo process exited early ({child.args!r}); see its log under "
                        f"{privtrail_home() / 'logs'}"
                    )
            result = client.query(
                "SELECT rule, event_id, severity, subject_id, actor_id, message "
                "FROM privtrail.alerts WHERE startsWith(event_id, {p:String}) "
                "ORDER BY event_id, rule",
                parameters={"p": f"{prefix}-"},
            )
            rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
            got = {(r["rule"], r["event_id"]) for r in rows}
            status.update(
                f"waiting for the alerts to land in ClickHouse ({len(got)}/{len(expected)}) ..."
            )
            if expected <= got:
                return rows
            time.sleep(1.0)
    missing = sorted(expected - {(r["rule"], r["event_id"]) for r in rows})
    raise StackError(f"timed out after {timeout:.0f}s waiting for alerts {missing}")


@click.command("demo")
@click.option(
    "--timeout",
    type=float,
    default=150.0,
    show_default=True,
    help="Seconds to wait for the alerts to land.",
)
def demo(timeout: float) -> None:
    """Replay the COLABOX scenario through SDK, worker and sink; print alerts and a timeline."""
    from privtrail.engine import Engine
    from privtrail.policy import default_policy
    from privtrail.queries.binding import run_query
    from privtrail.scenario import colabox_scenario, scenario_subjects
    from privtrail.sdk import AuditClient
    from privtrail.sinks.migrate import migrate
    from privtrail.sinks.settings import SinkSettings, connect
    from privtrail.stack import Stack
    from privtrail.streams.settings import WorkerSettings
    from privtrail.streams.topics import ensure_topics

    # Wide enough for the tables even when the output is piped (rich then assumes 80).
    console = Console(width=max(shutil.get_terminal_size((140, 40)).columns, 120))
    status = Stack.from_env().status()
    if not status.up:
        raise StackError("the local stack is not running; start it with `privtrail stack up`")
    env = dict(os.environ)
    env.setdefault("PRIVTRAIL_BOOTSTRAP_SERVERS", status.kafka_bootstrap)
    env.setdefault("PRIVTRAIL_CLICKHOUSE_URL", status.clickhouse_http)
    settings = SinkSettings.from_env(env)
    for m in migrate(connect(settings, "admin")):
        console.print(f"applied migration {m.version:04d}_{m.name}")
    # Topics up front, with the worker's partition counts, before the SDK's first send
    # could auto-create privacy.events with the broker's default.
    created = ensure_topics(WorkerSettings.from_env(bootstrap=status.kafka_bootstrap))
    if created:
        console.print(f"created topics: {', '.join(created)}")

    prefix = "demo" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    scenario = colabox_scenario(datetime.now(UTC) - timedelta(minutes=30), prefix=prefix)
    events = [parse_event(e) for e in scenario]
    engine = Engine(default_policy())
    expected = {(a.rule, a.event_id) for e in events for a in engine.process(e)}

    logs = privtrail_home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children = [_child("worker", ["worker"], env, logs), _child("sink", ["sink"], env, logs)]
    try:
        console.print(
            f"worker and sink started (logs in {logs}); sending {len(events)} "
            f"events through the SDK as run [bold]{prefix}[/]"
        )
        with AuditClient(
            bootstrap=status.kafka_bootstrap,
            service="demo",
            dev_mode=True,
            spool_dir=privtrail_home() / "spool" / "demo",
        ) as audit:
            for event in events:
                audit.emit(event)
            audit.flush(30)
        investigator = connect(settings, "investigator")
        rows = _wait_for_alerts(investigator, prefix, expected, timeout, children, console)
    finally:
        _stop(children)

    labels = dict(
        zip(scenario_subjects(prefix), ("subject A", "subject B", "subject C"), strict=True)
    )
    table = Table(title=f"Alerts raised by the worker, read back from ClickHouse ({len(rows)})")
    for col in ("rule", "event", "subject", "actor", "message"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["rule"],
            r["event_id"].removeprefix(prefix),
            labels.get(r["subject_id"], r["subject_id"] or "-"),
            r["actor_id"],
            r["message"],
        )
    console.print(table)

    subject = scenario_subjects(prefix)[1]
    timeline = run_query(investigator, "subject_timeline", {"subject": subject})
    t = Table(title=f"Timeline of subject B ({subject}), query subject_timeline")
    for col in (
        "occurred_at",
        "event",
        "type",
        "actor",
        "items",
        "purposes",
        "recipient",
        "alerts",
    ):
        t.add_column(col, overflow="fold")
    for row in timeline.dicts():
        t.add_row(
            f"{row['occurred_at']:%H:%M:%S}",
            row["event_id"].removeprefix(prefix),
            row["type"],
            labels.get(row["actor_id"], row["actor_id"]),
            ", ".join(row["items"]),
            ", ".join(row["purposes"]),
            row["recipient"],
            ", ".join(row["alerts"] or []),
        )
    console.print(t)
    console.print(
        f"Investigate further: privtrail query --list; privtrail report access "
        f"--subject {subject}; privtrail verify"
    )
