"""``privtrail query`` and ``privtrail report`` in-process, against the real server, as the
read-only investigator the CLI logs in as."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from history_fixture import VERIFIER_KEY, LoadedHistory, load_history

from privtrail.cli.main import cli
from privtrail.queries import list_queries

pytestmark = pytest.mark.integration

PERIOD = ["-p", "from=2018-09-01T00:00:00Z", "-p", "to=2019-04-01T00:00:00Z"]


@pytest.fixture(scope="module")
def history(ch_admin: Any, ch_writer: Any) -> LoadedHistory:
    return load_history(ch_admin, ch_writer)


@pytest.fixture
def env(
    history: LoadedHistory, clickhouse_http_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setenv("PRIVTRAIL_CLICKHOUSE_URL", clickhouse_http_url)
    monkeypatch.delenv("PRIVTRAIL_CHECKPOINT_VERIFIER_KEY", raising=False)
    return {"PRIVTRAIL_CLICKHOUSE_URL": clickhouse_http_url}


def invoke(args: list[str]) -> Result:
    # Wide enough that rich does not fold table cells.
    return CliRunner(env={"COLUMNS": "400"}).invoke(cli, args, catch_exceptions=False)


def test_list_shows_every_query_and_its_question() -> None:
    result = invoke(["query", "--list"])
    assert result.exit_code == 0
    for q in list_queries():
        assert f"{q.name}\n  {q.question}\n" in result.output
    assert "--param processors=<Array(String)> [policy]" in result.output


def test_query_json(env: dict[str, str]) -> None:
    result = invoke(["query", "subject_timeline", "-p", "subject=ps_inv_c", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["event_id"], r["type"], r["alerts"]) for r in rows] == [
        ("inv-015", "collected", []),
        ("inv-016", "withdrawal_requested", ["DESTRUCTION_OVERDUE"]),
        ("inv-017", "used", ["USE_AFTER_WITHDRAWAL"]),
    ]
    assert rows[0]["occurred_at"] == "2019-03-04T00:44:00Z"


def test_query_csv_fills_policy_parameters(env: dict[str, str]) -> None:
    result = invoke(["query", "disclosures", *PERIOD, "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "recipient_kind,recipient,basis,disclosures,subjects,items,purposes,legal_references,"
        "first_at,last_at"
    )
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["processor", "benchmark_email", "entrustment"],
        ["processor", "google_analytics", "entrustment"],
        ["processor", "lguplus", "entrustment"],
        ["processor", "salesforce", "entrustment"],
        ["third_party", "ad_partner", "consent"],
        ["third_party", "police_agency", "legal_request"],
    ]


def test_query_markdown_and_table(env: dict[str, str]) -> None:
    md = invoke(["query", "access_review", *PERIOD, "--format", "markdown"])
    assert md.exit_code == 0, md.output
    assert md.output.splitlines()[2].startswith('| agent-7 | ["support_agent"] | 10 | 3 | 2 | 1 |')
    table = invoke(["query", "access_review", *PERIOD])
    assert table.exit_code == 0 and "agent-9" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "no_such_query"], "unknown query 'no_such_query'"),
        (["query", "subject_timeline"], "parameter 'subject': missing"),
        (
            ["query", "subject_timeline", "-p", "subject=x", "-p", "as_of=2019-01-01"],
            "parameter 'as_of': unexpected",
        ),
        (
            ["query", "subject_state_as_of", "-p", "subject=x", "-p", "as_of=yesterday"],
            "parameter 'as_of': expected an RFC 3339 time",
        ),
        (
            [
                "query",
                "deadlines",
                *PERIOD,
                "-p",
                "as_of=2019-03-01T00:00:00Z",
                "-p",
                "grace_days=-1",
            ],
            "parameter 'grace_days': expected a whole number",
        ),
        (["query", "subject_timeline", "-p", "subject"], "is not KEY=VALUE"),
    ],
)
def test_query_errors_are_clear(env: dict[str, str], args: list[str], message: str) -> None:
    result = invoke(args)
    assert result.exit_code != 0
    assert message in result.output


def test_cli_client_is_the_read_only_investigator(env: dict[str, str]) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    from privtrail.cli.query_cmd import open_client

    client = open_client()
    assert client.query("SELECT currentUser()").result_rows == [("investigator",)]
    with pytest.raises(DatabaseError):
        client.command("INSERT INTO privtrail.events (event_id) VALUES ('cli-tamper')")
    with pytest.raises(DatabaseError):
        client.command("DROP TABLE privtrail.events")
    assert client.query(
        "SELECT count() FROM privtrail.events WHERE event_id = 'cli-tamper'"
    ).result_rows == [(0,)]


def test_report_access_html_to_file(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke([
        "report", "access", "--subject", "ps_inv_b", "--as-of", "2019-03-19T00:30:00Z",
        "--format", "html", "--out", str(out), "--verifier-key", VERIFIER_KEY,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<summary>Proof bundle for ") == 13


def test_report_access_markdown_to_stdout(env: dict[str, str]) -> None:
    result = invoke(["report", "access", "--subject", "ps_inv_c", "--as-of",
                     "2019-03-19T00:30:00Z"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Access report")
    assert "| service_usage_record | contract_performance, service_improvement | held |" in (
        result.output
    )


def test_cli_logs_in_as_investigator(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # With the investigator's password wrong, the CLI cannot log in at all: it uses no other
    # account (the writer's and admin's passwords are still right).
    monkeypatch.setenv("PRIVTRAIL_CH_INVESTIGATOR_PASSWORD", "not-the-password")
    result = invoke(["query", "subject_timeline", "-p", "subject=ps_inv_c"])
    assert result.exit_code != 0
    assert "as 'investigator'" in result.output
