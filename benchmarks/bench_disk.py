"""Bytes per event on disk, after compression, in the real ``privtrail.events`` table.

    /tmp/pv/bin/python benchmarks/bench_disk.py [--rows N] [--subjects S] [--chunk C]

Creates the table from the shipped single-node DDL (``sinks/ddl/*.sql``, the same statements
``privtrail db migrate`` applies) in an in-process chDB (ClickHouse 26.9) under a temporary
directory, fills it with ``INSERT ... SELECT FROM numbers()`` generating realistic events of
the COLABOX policy (pseudonymous subjects and staff, the type mix of a CRM, canonical
``event_json`` of ~350-450 bytes consistent with the typed columns, a SHA-256 leaf hash per
row) and reads ``system.parts`` twice: as inserted (several parts) and after
``OPTIMIZE ... FINAL`` (what background merges converge to). ``bytes_on_disk`` includes the
projections the migrations add (0004's ``events_by_type``, stored inside each part); the
per-column sizes are the table's own columns. Prints a report and one JSON line.
Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

from chdb import session

from privtrail.sinks.migrate import load_migrations

TOPIC = "privacy.events.valid"
PARTITIONS = 12  # Kafka partitions of the valid topic; only the log_partition column sees it
MONTH_START = "2026-03-01 00:00:00"
MONTH_SECONDS = 30 * 86400

# The COLABOX vocabulary (privtrail/policy/colabox.yaml), as SQL array literals.
ITEMS = [
    "company_name", "contact_name", "region", "phone", "email", "user_id",
    "service_usage_record", "contract_record", "payment_record", "complaint_record",
    "web_visit_record", "analytics_cookie",
]  # fmt: skip
PURPOSES = [
    "contract_performance", "user_management", "service_improvement", "marketing",
    "legal_compliance",
]  # fmt: skip
SERVICES = ["crm", "billing", "support-desk", "web", "analytics"]
ROLES = ["sales", "support", "billing", "admin", "engineer"]
OPERATIONS = ["view", "view", "view", "modify", "insert", "download", "process"]
RECIPIENTS = ["salesforce", "lguplus", "benchmark_email", "google_analytics"]
BASES = ["entrustment", "consent", "legal_request"]
CONTEXTS = ["product_inquiry", "tech_support", "service_use", "analytics"]
METHODS = ["inquiry_board", "event_entry", "service_use", "phone_fax", "cookie"]

# Event type by percentile of a per-row random number r in [0, 100): a CRM mostly reads.
TYPE_MIX = [
    (50, "used"), (66, "collected"), (78, "disclosed"), (84, "consent_given"),
    (87, "consent_withdrawn"), (90, "access_requested"), (92, "access_fulfilled"),
    (94, "correction_requested"), (96, "corrected"), (98, "destroyed"), (100, "login"),
]  # fmt: skip


def _arr(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _pick(values: list[str], seed: str) -> str:
    return f"{_arr(values)}[1 + ({seed}) % {len(values)}]"


def _letters(hex_expr: str) -> str:
    # privtrail writes ids as hex digits mapped to letters (see privtrail.sdk.pseudonym).
    return f"translate(lower({hex_expr}), '0123456789abcdef', 'abcdefghijklmnop')"


def _type_expr() -> str:
    branches = ", ".join(f"r < {bound}, '{name}'" for bound, name in TYPE_MIX[:-1])
    return f"multiIf({branches}, '{TYPE_MIX[-1][1]}')"


# Raw values per row: n = arrival number, r = type percentile, s = subject, a = staff actor.
RAW = """
    number AS n, rand(1) % 100 AS r, rand(2) % {subjects} AS s, rand(3) % 500 AS a,
    rand(4) AS x, rand(5) AS y
FROM numbers({start}, {count})
"""

# Typed columns, in dependency order; '' / [] stand for absent, as in the sink's rows.
COLUMNS: list[tuple[str, str]] = [
    ("type", _type_expr()),
    (
        "occurred_at",
        f"toDateTime64('{MONTH_START}', 6, 'UTC') + toIntervalMicrosecond("
        f"intDiv(n * {MONTH_SECONDS} * 1000000, {{total}}) + x % 1000000)",
    ),
    ("ms", "toUInt64(toUnixTimestamp64Milli(occurred_at))"),
    (
        "event_id",
        "concat('ev_', " + _letters("leftPad(hex(ms), 12, '0')") + ", "
        "substring(" + _letters("hex(randomString(10))") + ", 1, 20))",
    ),
    ("service", _pick(SERVICES, "x")),
    (
        "instance",
        f"concat(service, '-', substring({_letters('hex(cityHash64(service, x % 6))')}, 1, 8))",
    ),
    (
        "actor_kind",
        "multiIf(type IN ('access_requested', 'correction_requested', 'consent_given', "
        "'consent_withdrawn', 'login'), 'subject', type = 'destroyed', 'system', "
        "y % 10 < 8, 'staff', 'service')",
    ),
    ("subject_id", "concat('ps_', " + _letters("hex(SHA1(toString(s)))") + ")"),
    (
        "actor_id",
        "multiIf(actor_kind = 'staff', concat('staff-', leftPad(toString(a), 4, '0')), "
        "actor_kind = 'subject', subject_id, actor_kind = 'system', 'retention-job', service)",
    ),
    ("actor_role", f"if(actor_kind = 'staff', {_pick(ROLES, 'a')}, '')"),
    (
        "actor_ip",
        "multiIf(actor_kind = 'staff', concat('10.20.', toString(a % 8), '.', "
        "toString(a % 250)), actor_kind = 'subject', IPv4NumToString(toUInt32(y)), '')",
    ),
    ("subject_key_id", "'k2026-03'"),
    # Only some services' SDKs are configured to stamp the policy version.
    ("policy_version", "if(service IN ('crm', 'billing'), 'colabox-v1', '')"),
    (
        "items",
        "if(type IN ('used', 'collected', 'disclosed', 'correction_requested', 'destroyed'), "
        f"arrayMap(i -> {_arr(ITEMS)}[1 + (x + i * 5) % {len(ITEMS)}], range(1 + y % 3)), [])",
    ),
    (
        "purposes",
        "if(type = 'collected', arrayMap(i -> "
        f"{_arr(PURPOSES)}[1 + (y + i * 2) % {len(PURPOSES)}], range(1 + x % 2)), [])",
    ),
    ("purpose", f"if(type IN ('used', 'disclosed'), {_pick(PURPOSES, 'y')}, '')"),
    ("context", f"if(type = 'collected', {_pick(CONTEXTS, 'x')}, '')"),
    ("method", f"if(type = 'collected', {_pick(METHODS, 'y')}, '')"),
    ("operation", f"if(type = 'used', {_pick(OPERATIONS, 'x')}, '')"),
    ("recipient", f"if(type = 'disclosed', {_pick(RECIPIENTS, 'x')}, '')"),
    ("basis", f"if(type = 'disclosed', {_pick(BASES, 'y')}, '')"),
    ("legal_reference", "if(basis = 'legal_request', 'court-order-2026-117', '')"),
    ("scope", "if(type IN ('consent_given', 'consent_withdrawn'), 'marketing', '')"),
    (
        "request_id",
        "if(type IN ('access_requested', 'access_fulfilled', 'correction_requested', "
        "'corrected'), concat('req_', "
        + _letters("hex(cityHash64(s, intDiv(n, 100000)))")
        + "), '')",
    ),
    ("channel", "if(type = 'access_requested', if(x % 2 = 0, 'email', 'board'), '')"),
    ("verified_as", "if(type = 'access_requested', 'subject', '')"),
    ("reason", "if(type = 'destroyed', 'retention_expired', '')"),
    ("handler_id", "if(type IN ('access_fulfilled', 'corrected'), 'staff-0007', '')"),
    ("role", "''"),
    ("significant", "CAST(NULL AS Nullable(Bool))"),
    ("announced_at", "CAST(NULL AS Nullable(DateTime64(6, 'UTC')))"),
    ("effective_at", "CAST(NULL AS Nullable(DateTime64(6, 'UTC')))"),
]


def _event_json() -> str:
    """Canonical JSON (sorted keys, compact) of the row, built from the typed columns."""

    def s(key: str, col: str) -> str:
        return f"if({col} = '', '', concat('\"{key}\":\"', {col}, '\",'))"

    def arr(key: str, col: str) -> str:
        return f"if(empty({col}), '', concat('\"{key}\":', toJSONString({col}), ','))"

    actor = (
        'concat(\'"actor":{"id":"\', actor_id, \'",\', '
        "if(actor_ip = '', '', concat('\"ip\":\"', actor_ip, '\",')), "
        "'\"kind\":\"', actor_kind, '\"', "
        "if(actor_role = '', '', concat(',\"role\":\"', actor_role, '\"')), '},')"
    )
    when = "formatDateTime(occurred_at, '%Y-%m-%dT%H:%i:%S.%fZ')"
    parts = [
        actor, s("basis", "basis"), s("channel", "channel"), s("context", "context"),
        s("event_id", "event_id"), s("handler_id", "handler_id"), arr("items", "items"),
        s("legal_reference", "legal_reference"), s("method", "method"),
        f"concat('\"occurred_at\":\"', {when}, '\",')", s("operation", "operation"),
        s("policy_version", "policy_version"), s("purpose", "purpose"),
        arr("purposes", "purposes"), s("reason", "reason"), s("recipient", "recipient"),
        s("request_id", "request_id"), s("scope", "scope"),
        "concat('\"source\":{\"instance\":\"', instance, '\",\"service\":\"', service, '\"},')",
        s("subject_id", "subject_id"), s("subject_key_id", "subject_key_id"),
        s("type", "type"), s("verified_as", "verified_as"),
    ]  # fmt: skip
    # Every member ends with a comma; the one after the last member goes.
    return f"concat('{{', trimRight(concat({', '.join(parts)}), ','), '}}')"


def insert_sql(start: int, count: int, total: int, subjects: int) -> str:
    aliases = ",\n    ".join(f"{expr} AS {name}" for name, expr in COLUMNS).replace(
        "{total}", str(total)
    )
    raw = RAW.format(subjects=subjects, start=start, count=count)
    names = [name for name, _ in COLUMNS if name != "ms"] + [
        "event_json", "log_topic", "log_partition", "leaf_index", "leaf_hash", "kafka_offset",
        "ingested_at",
    ]  # fmt: skip
    listed = ", ".join(names)
    return f"""
INSERT INTO privtrail.events ({listed})
SELECT {listed}
FROM (
  SELECT *, {_event_json()} AS event_json,
    '{TOPIC}' AS log_topic, toUInt32(cityHash64(subject_id) % {PARTITIONS}) AS log_partition,
    intDiv(n, {PARTITIONS}) AS leaf_index, SHA256(event_json) AS leaf_hash,
    intDiv(n, {PARTITIONS}) AS kafka_offset,
    occurred_at + toIntervalMillisecond(50 + y % 450) AS ingested_at
  FROM (SELECT {aliases}, * FROM (SELECT {raw}))
)
"""


def query(sess: Any, sql: str) -> list[list[str]]:
    out = str(sess.query(sql, "TSVRaw"))
    return [line.split("\t") for line in out.splitlines() if line]


PARTS = """
SELECT count(), sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes),
       sum(data_uncompressed_bytes)
FROM system.parts WHERE database = 'privtrail' AND table = 'events' AND active
"""
COLUMN_SIZES = """
SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns
WHERE database = 'privtrail' AND table = 'events' ORDER BY data_compressed_bytes DESC LIMIT 8
"""


def measure(sess: Any) -> dict[str, float]:
    parts, rows, disk, compressed, raw = (int(v) for v in query(sess, PARTS)[0])
    return {
        "parts": parts,
        "rows": rows,
        "bytes_on_disk": disk,
        "bytes_per_event": disk / rows,
        "compressed_per_event": compressed / rows,
        "uncompressed_per_event": raw / rows,
        "compression_ratio": raw / compressed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=250_000, help="rows per INSERT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_disk_") as path:
        sess: Any = session.Session(path)  # type: ignore[no-untyped-call]
        try:
            sess.query("CREATE DATABASE IF NOT EXISTS privtrail")
            for migration in load_migrations():
                for statement in migration.statements():
                    sess.query(statement)
            started = time.monotonic()
            for start in range(0, args.rows, args.chunk):
                count = min(args.chunk, args.rows - start)
                sess.query(insert_sql(start, count, args.rows, args.subjects))
            load_s = time.monotonic() - started
            json_len, types, invalid = query(
                sess,
                "SELECT avg(length(event_json)), uniqExact(type), "
                "countIf(NOT isValidJSON(event_json)) FROM privtrail.events",
            )[0]
            as_inserted = measure(sess)
            sess.query("OPTIMIZE TABLE privtrail.events FINAL")
            merged = measure(sess)
            columns = query(sess, COLUMN_SIZES)
        finally:
            sess.close()
    print(f"rows {args.rows:,} over {args.subjects:,} subjects, {types} event types, "
          f"event_json {float(json_len):.0f} B avg ({invalid} not valid JSON); "
          f"loaded in {load_s:.1f}s")  # fmt: skip
    for label, m in (("as inserted", as_inserted), ("after OPTIMIZE FINAL", merged)):
        print(
            f"{label:>22}: {m['parts']:.0f} parts, {m['bytes_per_event']:.1f} B/event on disk, "
            f"{m['uncompressed_per_event']:.0f} B/event uncompressed "
            f"(x{m['compression_ratio']:.1f})"
        )
    print("largest columns after merge (compressed B/event):")
    for name, comp, raw in columns:
        print(f"  {name:<16}{int(comp) / args.rows:8.1f}   ({int(raw) / args.rows:.1f} raw)")
    result = {
        "rows": args.rows,
        "subjects": args.subjects,
        "event_json_avg_bytes": round(float(json_len), 1),
        "as_inserted": as_inserted,
        "merged": merged,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
