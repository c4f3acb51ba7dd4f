"""The result of a run as one rich table, and as JSON with the ratios to the baselines."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table

# The phase at the target load, and the one the runner adds below capacity when saturated.
LATENCY_PHASES = ("latency", "latency_below_capacity")


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    if math.isnan(a) or math.isnan(b):
        return None
    return round(a / b, 3)


def add_ratios(result: dict[str, Any]) -> dict[str, Any]:
    """``result["ratios"]``: end-to-end figures over the same run's bare baselines."""
    base = {k: v["per_second"] for k, v in result.get("baselines", {}).items()}
    e2e = result.get("throughput", {}).get("sustained_eps")
    send = result.get("throughput", {}).get("producer_send_eps")
    result["ratios"] = {
        "e2e_vs_raw_producer": _ratio(e2e, base.get("raw_producer")),
        "e2e_vs_raw_consume_produce": _ratio(e2e, base.get("raw_consume_produce")),
        "e2e_vs_raw_clickhouse_insert": _ratio(e2e, base.get("raw_clickhouse_insert")),
        "sdk_send_vs_raw_producer": _ratio(send, base.get("raw_producer")),
    }
    return result


def _clean(value: Any) -> Any:
    """NaN (a rate never reached, no samples) becomes null: NaN is not JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(result), indent=2, sort_keys=True, allow_nan=False)
    path.write_text(text + "\n")


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("[green]meets[/]" if ok else "[red]misses[/]")


def _fmt(v: Any, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.1f}{unit}" if isinstance(v, float) else f"{v:,}{unit}"


def _latency_rows(t: Table, phase: str, lat: dict[str, Any]) -> None:
    a, q = lat.get("send_to_alert", {}), lat.get("send_to_queryable", {})
    load = f"{_fmt(lat.get('offered_eps'))}/s offered, {_fmt(lat.get('achieved_send_eps'))} sent"
    if lat.get("above_measured_capacity"):
        load += " (above the measured capacity: latency includes the backlog)"
    elif lat.get("near_measured_capacity"):
        load += " (over 80 % of the measured capacity: a backlog may build)"
    t.add_row(
        f"{phase}: send -> alert p50 / p99 (ms), n={a.get('n', 0)}",
        f"{_fmt(a.get('p50_ms'))} / {_fmt(a.get('p99_ms'))}",
        load,
        f"p99 < 1,000 {_verdict(a.get('p99_ms') < 1000 if a.get('n') else None)}",
    )
    t.add_row(
        f"{phase}: send -> queryable p50 / p99 (ms), n={q.get('n', 0)}",
        f"{_fmt(q.get('p50_ms'))} / {_fmt(q.get('p99_ms'))}",
        f"polled every {lat.get('queryable_poll_interval_ms', '?')} ms",
        f"p99 < 5,000 {_verdict(q.get('p99_ms') < 5000 if q.get('n') else None)}",
    )


def table(result: dict[str, Any]) -> Table:
    """Everything on one table: figure, value, baseline/ratio, target."""
    t = Table(title=f"privtrail bench run {result.get('run', '?')}")
    for col in ("measure", "value", "baseline / ratio", "target"):
        t.add_column(col, overflow="fold")
    tp = result.get("throughput", {})
    base, ratios = result.get("baselines", {}), result.get("ratios", {})
    eps = tp.get("sustained_eps")
    t.add_row(
        "end to end, SDK send -> queryable (events/s, sustained)",
        _fmt(eps),
        "",
        f">= 10,000 {_verdict(eps >= 10_000 if eps is not None else None)}",
    )
    t.add_row(
        "  judged by the enforce agent (events/s, sustained)",
        _fmt(tp.get("enforced_sustained_eps")),
        "",
        "",
    )
    t.add_row("  first row -> last row (events/s)", _fmt(tp.get("first_to_last_row_eps")), "", "")
    t.add_row(
        "  SDK send rate of the producers (events/s)",
        _fmt(tp.get("producer_send_eps")),
        f"x{_fmt(ratios.get('sdk_send_vs_raw_producer'))} of raw producer",
        "",
    )
    for name, label in (
        ("raw_producer", "raw kafka-python producer"),
        ("raw_consume_produce", "raw aiokafka consume-produce"),
        ("raw_clickhouse_insert", "raw clickhouse-connect insert"),
    ):
        b = base.get(name, {})
        t.add_row(
            f"baseline: {label} (/s)",
            _fmt(b.get("per_second")),
            f"e2e = x{_fmt(ratios.get('e2e_vs_' + name))}",
            "",
        )
    for phase in LATENCY_PHASES:
        if phase in result:
            _latency_rows(t, phase, result[phase])
    c = result.get("correctness", {})
    if c:
        t.add_row(
            "alerts expected / in ClickHouse (distinct)",
            f"{c['expected_alerts']:,} / {c['alert_ids_in_clickhouse']:,}",
            f"missing {c['missing_alerts']}, unexpected {c['unexpected_alerts']}",
            "",
        )
        t.add_row(
            "duplicate alerts: rows / topic records",
            f"{c['duplicate_alert_rows']} / {c['duplicate_alerts_on_topic']}",
            "",
            "",
        )
        t.add_row(
            "event rows / distinct ids / sent",
            f"{c['event_rows']:,} / {c['distinct_event_ids']:,} / {c['events_sent']:,}",
            "",
            "",
        )
    for phase in ("throughput", *LATENCY_PHASES):
        for name, u in result.get(phase, {}).get("processes", {}).items():
            t.add_row(
                f"{phase}: {name} CPU % / RSS MiB",
                f"{u['cpu_percent']:.0f} / {u['rss_max_mib']:.0f}",
                "",
                "",
            )
    return t
