"""The report: ratios to the baselines, the table and the JSON file; the CLI's options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from privtrail.bench.report import add_ratios, table, write_json
from privtrail.bench.runner import BenchOptions

pytestmark = pytest.mark.unit


def _result() -> dict[str, Any]:
    return {
        "run": "abc",
        "throughput": {
            "sustained_eps": 2500.0,
            "producer_send_eps": 5000.0,
            "processes": {"worker-1": {"cpu_percent": 95.0, "rss_max_mib": 120.0}},
        },
        "latency": {
            "offered_eps": 2000.0,
            "achieved_send_eps": 1990.0,
            "send_to_alert": {"n": 10, "p50_ms": 300.0, "p99_ms": 1200.0},
            "send_to_queryable": {"n": 10, "p50_ms": 1500.0, "p99_ms": 2500.0},
        },
        "baselines": {
            "raw_producer": {"per_second": 50_000.0},
            "raw_consume_produce": {"per_second": 10_000.0},
            "raw_clickhouse_insert": {"per_second": 0.0},
        },
        "correctness": {
            "expected_alerts": 5,
            "alert_ids_in_clickhouse": 5,
            "missing_alerts": 0,
            "unexpected_alerts": 0,
            "duplicate_alert_rows": 0,
            "duplicate_alerts_on_topic": 1,
            "event_rows": 9,
            "distinct_event_ids": 9,
            "events_sent": 9,
        },
    }


def test_ratios_against_the_same_runs_baselines() -> None:
    r = add_ratios(_result())["ratios"]
    assert r["e2e_vs_raw_producer"] == 0.05
    assert r["e2e_vs_raw_consume_produce"] == 0.25
    assert r["e2e_vs_raw_clickhouse_insert"] is None  # no division by a zero baseline
    assert r["sdk_send_vs_raw_producer"] == 0.1


def test_table_names_targets_met_and_missed() -> None:
    console = Console(width=200, record=True)
    console.print(table(add_ratios(_result())))
    text = console.export_text()
    assert "2,500.0" in text
    assert "misses" in text  # 2,500/s < 10,000/s, and alert p99 1.2 s > 1 s
    assert "meets" in text  # queryable p99 2.5 s < 5 s
    assert "worker-1" in text


def test_table_of_a_partial_result() -> None:
    Console(width=120, record=True).print(table(add_ratios({"run": "x"})))


def test_json_file(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "e2e.json"
    write_json(add_ratios(_result()), out)
    assert json.loads(out.read_text())["ratios"]["e2e_vs_raw_producer"] == 0.05
    write_json({"throughput": {"sustained_eps": float("nan")}}, out)  # never reached 90 %
    assert json.loads(out.read_text()) == {"throughput": {"sustained_eps": None}}


def test_quick_options() -> None:
    q = BenchOptions.quick(workers=2)
    assert q.events < BenchOptions().events and q.workers == 2


def test_bench_command_help() -> None:
    from click.testing import CliRunner

    from privtrail.cli.main import cli

    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    for option in (
        "--events",
        "--rate",
        "--producers",
        "--subjects",
        "--actors",
        "--out",
        "--quick",
        "--workers",
        "--sinks",
    ):
        assert option in result.output
    bad = CliRunner().invoke(cli, ["bench", "--producers", "0"])
    assert bad.exit_code != 0
