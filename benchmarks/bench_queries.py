"""Latency of every investigation on a large synthetic history, next to bare baselines.

    /tmp/pv/bin/python benchmarks/bench_queries.py [--events N] [--subjects S]
        [--subject-runs R] [--report-runs R]

The documented run is ``--events 10000000 --subjects 1000000`` (the issue's size); the
default (1M events over 100k subjects) is a quick run. It starts a private ClickHouse 26.9
server (chDB, the same process the local stack runs: ``privtrail.stack.clickhouse``) in a
temporary home on free ports, applies the shipped DDL through ``privtrail.sinks.migrate``
(the same migrations ``privtrail db migrate`` applies), and generates the events on the
server with ``INSERT ... SELECT FROM numbers()`` using the realistic generator of
``bench_disk.py`` (COLABOX vocabulary, canonical event_json, SHA-256 leaf hashes), plus staff
authorisations and alerts on ~2% of events. Queries then run through clickhouse-connect as
the read-only ``investigator`` over HTTP, exactly as ``privtrail query`` runs them.

Per query it prints the median and p99 latency (client side, HTTP and parsing included)
next to baselines measured in the same run: ``count()`` (answered from metadata), a full
scan of one column, and a point lookup by primary-key prefix. Targets (issue 7):
subject_timeline and subject_state_as_of under 100 ms; whole-history reports under 5 s.
Ends with the table sizes on disk from ``system.parts`` (projections included, and listed
on their own from ``system.projection_parts``). Not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_disk import insert_sql

from privtrail.policy import default_policy
from privtrail.queries import load_query, policy_parameters, run_query
from privtrail.sinks.migrate import migrate
from privtrail.sinks.settings import ClickHouseUser, Secret, SinkSettings, connect
from privtrail.stack.clickhouse import ClickHouseServer
from privtrail.stack.ports import StackPorts
from privtrail.stack.settings import ClickHouseUsers

PERIOD_FROM = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD_TO = datetime(2026, 4, 1, tzinfo=UTC)
AS_OF = PERIOD_TO
SUBJECT_QUERIES = ("subject_timeline", "subject_state_as_of", "access_report")
RULES = [
    "PURPOSE_VIOLATION", "MARKETING_WITHOUT_CONSENT", "UNAUTHORIZED_HANDLER",
    "DOWNLOAD_WITHOUT_REASON", "ACCESS_OVERDUE", "CORRECTION_NOT_PROPAGATED",
    "DESTRUCTION_OVERDUE", "USE_AFTER_WITHDRAWAL",
]  # fmt: skip

HANDLERS_SQL = """
INSERT INTO privtrail.events (event_id, type, occurred_at, service, actor_kind, actor_id,
    actor_role, handler_id, role, event_json, log_topic, log_partition, leaf_index, leaf_hash,
    kafka_offset, ingested_at)
SELECT concat('ev_handler_', toString(number)), 'handler_authorized',
    toDateTime64('2026-02-01 00:00:00', 6, 'UTC'), 'admin-console', 'staff', 'privacy-officer-1',
    'privacy_officer', concat('staff-', leftPad(toString(number), 4, '0')), 'support',
    '{}', 'privacy.events.valid', 99, number, SHA256(toString(number)), number,
    toDateTime64('2026-02-01 00:00:01', 6, 'UTC')
FROM numbers(450)  -- staff-0450 .. staff-0499 never get an authorisation
"""

ALERTS_SQL = f"""
INSERT INTO privtrail.alerts (alert_id, rule, severity, event_id, subject_id, actor_id,
    occurred_at, policy_version, message, evidence_json, raised_at, kafka_topic,
    kafka_partition, kafka_offset, ingested_at)
SELECT lower(hex(substring(SHA256(event_id), 1, 16))),
    {RULES}[1 + cityHash64(event_id, 1) % {len(RULES)}], 'high', event_id, subject_id,
    if(actor_kind = 'staff', actor_id, ''), occurred_at, '2020-08-26', 'synthetic', '{{}}',
    occurred_at, 'privacy.alerts', 0, leaf_index, occurred_at
FROM privtrail.events
WHERE cityHash64(event_id) % 100 < 2
"""

SIZES_SQL = """
SELECT table, sum(rows), count(), sum(bytes_on_disk), sum(data_compressed_bytes),
    sum(data_uncompressed_bytes)
FROM system.parts WHERE database = 'privtrail' AND active
GROUP BY table ORDER BY table
"""

# Projections are stored inside their parent parts (and counted in the sizes above).
PROJECTION_SIZES_SQL = """
SELECT table, name, sum(rows), sum(bytes_on_disk)
FROM system.projection_parts WHERE database = 'privtrail' AND active
GROUP BY table, name ORDER BY table, name
"""


def subject_pseudonym(s: int) -> str:
    """The pseudonym bench_disk's generator gives subject number ``s``."""
    digest = hashlib.sha1(str(s).encode()).hexdigest()  # noqa: S324 (same as the SQL)
    return "ps_" + digest.translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop"))


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def load(admin: Any, events: int, subjects: int, chunk: int = 1_000_000) -> float:
    started = time.monotonic()
    migrate(admin)
    for start in range(0, events, chunk):
        count = min(chunk, events - start)
        admin.command(
            insert_sql(start, count, events, subjects), settings={"max_insert_threads": 1}
        )
    admin.command(HANDLERS_SQL)
    admin.command(ALERTS_SQL)
    return time.monotonic() - started


def settle(admin: Any) -> float:
    """Merge the freshly inserted parts, as background merges would given time.

    Right after a bulk load the server is busy merging ten 1M-row parts, which would be
    measured as query latency; a live table fed by the sink has long merged its old parts.
    """
    started = time.monotonic()
    for table in ("events", "alerts"):
        admin.command(f"OPTIMIZE TABLE privtrail.{table} FINAL")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--subject-runs", type=int, default=50)
    parser.add_argument("--report-runs", type=int, default=5)
    parser.add_argument(
        "--no-settle", dest="settle", action="store_false",
        help="measure right after the load, while the parts are still being merged",
    )  # fmt: skip
    args = parser.parse_args()

    users = ClickHouseUsers.from_env()
    ports = StackPorts.free()
    with tempfile.TemporaryDirectory(prefix="bench_queries_") as home:
        server = ClickHouseServer(
            home=Path(home), http_port=ports.clickhouse_http, tcp_port=ports.clickhouse_tcp,
            users=users,
        )  # fmt: skip
        server.start()
        try:
            settings = SinkSettings(
                clickhouse_url=server.http_url,
                admin=ClickHouseUser("admin", Secret(users.admin.password)),
                investigator=ClickHouseUser("investigator", Secret(users.investigator.password)),
            )
            admin = connect(settings, "admin", send_receive_timeout=3600)
            investigator = connect(settings, "investigator", send_receive_timeout=600)
            load_s = load(admin, args.events, args.subjects)
            merge_s = settle(admin) if args.settle else 0.0
            report(admin, investigator, args, load_s, merge_s)
        finally:
            server.stop()
    return 0


def report(
    admin: Any, client: Any, args: argparse.Namespace, load_s: float, merge_s: float
) -> None:
    rows = admin.query("SELECT count() FROM privtrail.events").result_rows[0][0]
    print(
        f"loaded {rows:,} events over {args.subjects:,} subjects in {load_s:.1f}s; "
        + (f"OPTIMIZE FINAL took {merge_s:.1f}s" if args.settle else "parts not merged")
    )
    rng = random.Random(7)
    subjects = [subject_pseudonym(rng.randrange(args.subjects)) for _ in range(args.subject_runs)]
    policy = policy_parameters(default_policy())
    results: dict[str, dict[str, float]] = {}

    def line(name: str, ms: list[float], note: str = "") -> None:
        med, tail = statistics.median(ms), p99(ms)
        results[name] = {"median_ms": round(med, 2), "p99_ms": round(tail, 2), "runs": len(ms)}
        print(f"  {name:<28}{med:>10.1f}{tail:>10.1f}{len(ms):>6}  {note}")

    print(f"  {'query':<28}{'median ms':>10}{'p99 ms':>10}{'runs':>6}")
    it = iter(subjects * 2)
    line(
        "baseline: count()",
        timed(lambda: client.query("SELECT count() FROM privtrail.events"), args.subject_runs),
    )
    line(
        "baseline: point lookup",
        timed(
            lambda: client.query(
                "SELECT event_id, type, occurred_at FROM privtrail.events "
                "WHERE subject_id = {s:String} LIMIT 1",
                parameters={"s": next(it)},
            ),
            args.subject_runs,
        ),
        "by primary-key prefix (subject_id)",
    )
    line("baseline: full scan", timed(
        lambda: client.query("SELECT sum(length(items)) FROM privtrail.events"),
        args.report_runs), "one Array column over every row")  # fmt: skip

    for name in SUBJECT_QUERIES:
        q = load_query(name)
        values = iter(subjects)

        def one(q: Any = q, values: Any = values) -> None:
            params = {"subject": next(values), "as_of": AS_OF}
            run_query(client, q, {k: v for k, v in params.items() if q.param(k)})

        line(name, timed(one, args.subject_runs), "target < 100 ms" if name != "access_report"
             else "")  # fmt: skip

    for name in ("disclosures", "violations", "deadlines", "access_review",
                 "correction_propagation", "processing_register", "retention_status"):  # fmt: skip
        q = load_query(name)
        base = {"as_of": AS_OF, "from": PERIOD_FROM, "to": PERIOD_TO}
        values = {k: v for k, v in base.items() if q.param(k)}
        line(name, timed(lambda q=q, values=values: run_query(client, q, values, defaults=policy),
                         args.report_runs), "target < 5 s")  # fmt: skip

    print("table sizes on disk (system.parts, active parts):")
    sizes = {}
    for table, nrows, parts, disk, comp, raw in admin.query(SIZES_SQL).result_rows:
        sizes[table] = {"rows": int(nrows), "parts": int(parts), "bytes_on_disk": int(disk)}
        print(f"  {table:<18}{int(nrows):>12,} rows {int(parts):>4} parts "
              f"{int(disk) / 2**20:>10.1f} MiB on disk "
              f"({int(raw) / max(int(comp), 1):.1f}x compression)")  # fmt: skip
    for table, name, nrows, disk in admin.query(PROJECTION_SIZES_SQL).result_rows:
        sizes[f"{table}.{name}"] = {"rows": int(nrows), "bytes_on_disk": int(disk)}
        print(f"    of which projection {name}: {int(nrows):,} rows "
              f"{int(disk) / 2**20:.1f} MiB on disk")  # fmt: skip
    print(json.dumps({"events": rows, "subjects": args.subjects, "load_s": round(load_s, 1),
                      "merge_s": round(merge_s, 1),
                      "latency": results, "sizes": sizes}))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
