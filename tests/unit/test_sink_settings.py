"""Sink settings from the environment, secrets kept out of reprs, the dev signing key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from privtrail.sinks.settings import (
    DEV_KEY_FILE,
    SettingsError,
    SinkSettings,
    load_signer,
    load_verifiers,
    wants_compression,
)
from privtrail.tlog import NoteSigner

pytestmark = pytest.mark.unit


def test_defaults_fit_the_local_stack() -> None:
    s = SinkSettings.from_env({})
    assert s.clickhouse_url == "http://127.0.0.1:18123"
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert (s.topics.valid, s.topics.alerts) == ("privacy.events.valid", "privacy.alerts")
    assert s.writer.name == "writer" and s.checkpoint_interval == 60.0


def test_overrides_and_secrets() -> None:
    s = SinkSettings.from_env(
        {
            "PRIVTRAIL_CLICKHOUSE_URL": "http://db:8123",
            "PRIVTRAIL_BOOTSTRAP_SERVERS": "k:9092",
            "PRIVTRAIL_TOPIC_VALID": "v",
            "PRIVTRAIL_CH_WRITER_PASSWORD": "pw-writer-test",
            "PRIVTRAIL_SINK_BATCH_ROWS": "10",
            "PRIVTRAIL_CHECKPOINT_INTERVAL": "5",
        }
    )
    assert (s.clickhouse_url, s.kafka_bootstrap, s.topics.valid) == (
        "http://db:8123",
        "k:9092",
        "v",
    )
    assert s.batch_max_rows == 10 and s.checkpoint_interval == 5.0
    assert s.writer.password.value == "pw-writer-test"
    assert "pw-writer-test" not in repr(s)


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_bad_numbers_name_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="PRIVTRAIL_SINK_BATCH_SECONDS"):
        SinkSettings.from_env({"PRIVTRAIL_SINK_BATCH_SECONDS": value})


def test_origin_per_partition() -> None:
    s = SinkSettings.from_env({"PRIVTRAIL_LOG_ORIGIN": "audit.example/log"})
    assert s.origin("privacy.events.valid", 3) == "audit.example/log/privacy.events.valid/3"


def test_dev_key_is_generated_once_and_private(tmp_path: Path) -> None:
    s = SinkSettings.from_env({})
    first = load_signer(s, tmp_path)
    again = load_signer(s, tmp_path)
    assert first.verifier().key_string() == again.verifier().key_string()
    mode = (tmp_path / DEV_KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert load_verifiers(s, home=tmp_path)[0].key_string() == first.verifier().key_string()


def test_configured_key_wins(tmp_path: Path) -> None:
    signer, verifier = NoteSigner.generate("audit.example")
    s = SinkSettings.from_env({"PRIVTRAIL_CHECKPOINT_KEY": signer})
    assert load_signer(s, tmp_path).verifier().key_string() == verifier
    assert not (tmp_path / DEV_KEY_FILE).exists()
    assert signer not in repr(s)
    other, other_verifier = NoteSigner.generate("other")
    assert [v.key_string() for v in load_verifiers(s, [other_verifier])] == [other_verifier]


@pytest.mark.parametrize(
    ("url", "flag", "expected"),
    [
        ("http://127.0.0.1:18123", None, False),  # loopback: compression only costs CPU
        ("http://localhost:8123", None, False),
        ("http://[::1]:8123", None, False),
        ("http://clickhouse:8123", None, True),  # a name: assume a network in between
        ("https://10.0.0.7:8443", None, True),
        ("http://127.0.0.1:18123", "on", True),
        ("http://clickhouse:8123", "off", False),
        ("http://clickhouse:8123", "auto", True),
    ],
)
def test_compression_is_off_on_loopback_unless_asked(
    url: str, flag: str | None, expected: bool
) -> None:
    env = {"PRIVTRAIL_CLICKHOUSE_URL": url}
    if flag is not None:
        env["PRIVTRAIL_CLICKHOUSE_COMPRESS"] = flag
    assert wants_compression(SinkSettings.from_env(env)) is expected


def test_compression_flag_names_a_bad_value() -> None:
    with pytest.raises(SettingsError, match="PRIVTRAIL_CLICKHOUSE_COMPRESS.*'maybe'"):
        SinkSettings.from_env({"PRIVTRAIL_CLICKHOUSE_COMPRESS": "maybe"})
