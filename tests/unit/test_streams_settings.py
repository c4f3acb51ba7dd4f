"""Worker settings from the environment, and the topic plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privtrail.streams.errors import StreamsError, TopicLayoutError
from privtrail.streams.settings import WorkerSettings
from privtrail.streams.topics import existing_partitions, topic_plan

pytestmark = pytest.mark.unit


def test_defaults_and_environment() -> None:
    s = WorkerSettings.from_env(
        {
            "PRIVTRAIL_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "PRIVTRAIL_WORKER_PARTITIONS": "6",
            "PRIVTRAIL_WORKER_WEBHOOKS": "http://127.0.0.1:2/a, https://h/b",
            "PRIVTRAIL_WORKER_WEBHOOK_SECRET": "s3cret-for-tests",
            "PRIVTRAIL_WORKER_CLOCK_OFFSET": "-30.5",
            "PRIVTRAIL_WORKER_DATA_DIR": "/tmp/x",
            "PRIVTRAIL_TOPIC_ALERTS": "a.alerts",
            "PRIVTRAIL_WORKER_FETCH_MAX_WAIT": "0.05",
        }
    )
    assert s.partitions == 6 and s.clock_offset == -30.5 and s.fetch_max_wait == 0.05
    assert s.webhooks == ("http://127.0.0.1:2/a", "https://h/b")
    assert s.webhook_secret is not None
    assert "s3cret" not in repr(s)  # a SecretStr never shows in logs
    assert s.topics.alerts == "a.alerts" and s.topics.events == "privacy.events"
    assert s.data_dir == Path("/tmp/x")
    assert s.web_host == "127.0.0.1"


def test_overrides_win_and_none_is_ignored() -> None:
    s = WorkerSettings.from_env(
        {"PRIVTRAIL_WORKER_PARTITIONS": "6"}, bootstrap="h:1", partitions=2, app_id=None
    )
    assert s.partitions == 2 and s.app_id == "privtrail-worker" and s.bootstrap == "h:1"


def test_fallback_bootstrap_only_when_nothing_else() -> None:
    assert WorkerSettings.from_env({}, fallback_bootstrap=lambda: "l:9").bootstrap == "l:9"
    env = {"PRIVTRAIL_BOOTSTRAP_SERVERS": "e:1"}
    assert WorkerSettings.from_env(env, fallback_bootstrap=lambda: "l:9").bootstrap == "e:1"


@pytest.mark.parametrize(
    "env, match",
    [
        ({}, "no Kafka bootstrap"),
        ({"PRIVTRAIL_WORKER_PARTITIONS": "0"}, "at least 1"),
        ({"PRIVTRAIL_WORKER_PARTITIONS": "four"}, "not a number"),
        ({"PRIVTRAIL_WORKER_WEBHOOKS": "ftp://h/x"}, "not an http"),
        ({"PRIVTRAIL_WORKER_WEBHOOKS": "http://h/x"}, "shared secret"),
        ({"PRIVTRAIL_WORKER_DEADLINE_LATENESS": "-1"}, "negative"),
        ({"PRIVTRAIL_WORKER_FETCH_MAX_WAIT": "0"}, "fetch_max_wait must be above 0"),
        ({"PRIVTRAIL_WORKER_FETCH_MAX_WAIT": "45"}, "at most 30 seconds"),
        ({"PRIVTRAIL_WORKER_FETCH_MAX_WAIT": "soon"}, "not a number"),
    ],
)
def test_bad_settings_say_what_is_wrong(env: dict[str, str], match: str) -> None:
    if env:
        env = {"PRIVTRAIL_BOOTSTRAP_SERVERS": "h:1", **env}
    with pytest.raises(StreamsError, match=match):
        WorkerSettings.from_env(env)


def test_topic_plan_copartitions_what_the_tables_need() -> None:
    s = WorkerSettings(bootstrap="h:1", partitions=3, app_id="w1")
    plan = {t.name: t for t in topic_plan(s)}
    assert set(plan) == {
        "privacy.events",
        "privacy.events.valid",
        "privacy.events.dlq",
        "privacy.alerts",
        "w1-subject-events",
        "w1-actors",
        "w1-deadline-ticks",
    }
    assert all(t.partitions == 3 for t in plan.values())
    assert {n for n, t in plan.items() if t.copartitioned} == {
        "w1-subject-events",
        "w1-actors",
        "w1-deadline-ticks",
    }


def test_existing_partitions_skips_unknown_topics() -> None:
    class Admin:
        def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
            return [
                {"name": "a", "error_code": 0, "partitions": [{}, {}]},
                {"name": "b", "error_code": 3, "partitions": []},
            ]

    assert existing_partitions(Admin(), ["a", "b"]) == {"a": 2}


def test_layout_error_says_how_to_fix() -> None:
    err = TopicLayoutError("privacy.events.valid", 1, 4)
    assert "--partitions 1" in str(err) and err.found == 1 and err.wanted == 4


def test_worker_help_runs_in_process() -> None:
    from click.testing import CliRunner

    from privtrail.cli.main import cli

    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--bootstrap", "--partitions", "--webhook", "--web-port"):
        assert option in result.output


def test_worker_refuses_a_webhook_without_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from privtrail.cli.main import main

    monkeypatch.delenv("PRIVTRAIL_WORKER_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["worker", "--bootstrap", "127.0.0.1:1", "--webhook", "http://127.0.0.1:2/x"])
    assert exit_info.value.code == 2  # a PrivtrailError, rendered by main(), no traceback
    assert "shared secret" in capsys.readouterr().err


def test_a_worker_logging_to_a_file_gets_plain_lines() -> None:
    """No colorlog escape codes (and no per-record escape-code table) when the worker's
    output is not a terminal: same line format, plain text."""
    import io
    import logging
    import logging.config

    from privtrail.cli.worker_cmd import plain_logging

    config = plain_logging("info")
    handler = config["handlers"]["default"]  # type: ignore[index]
    assert handler["class"] == "logging.StreamHandler"
    assert handler["formatter"] == "default"
    saved = logging.root.handlers[:], logging.root.level
    try:
        logging.config.dictConfig(config)
        out = io.StringIO()
        logging.root.handlers[0].setStream(out)  # type: ignore[attr-defined]
        logging.getLogger("privtrail.alerts").warning("ALERT %s", "RULE")
        line = out.getvalue()
        assert "[WARNING]" in line and "ALERT RULE" in line and "\x1b" not in line
    finally:
        logging.root.handlers[:] = saved[0]
        logging.root.setLevel(saved[1])
