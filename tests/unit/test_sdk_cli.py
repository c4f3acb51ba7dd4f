"""`privtrail emit`: JSON Lines through the SDK's code path, refusals by line number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_sdk_fakes import FakeBroker

from privtrail.cli.main import main
from privtrail.sdk import client as client_module
from privtrail.sdk.builder import new_event_id
from privtrail.sdk.pseudonym import Pseudonymiser
from privtrail.wire import decode_event

pytestmark = pytest.mark.unit

KEY = bytes(range(32))


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeBroker:
    fake = FakeBroker()
    monkeypatch.setattr(client_module, "build_producer", lambda *_a, **_k: fake.producer())
    for var in (
        "PRIVTRAIL_PSEUDONYM_KEY",
        "PRIVTRAIL_PSEUDONYM_KEY_ID",
        "PRIVTRAIL_SDK_DEV_MODE",
        "PRIVTRAIL_SERVICE",
        "PRIVTRAIL_SPOOL_DIR",
        "PRIVTRAIL_POLICY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PRIVTRAIL_BOOTSTRAP_SERVERS", "fake:9092")
    monkeypatch.setenv("PRIVTRAIL_SDK_DELIVERY", "thread")  # the fake lives in this process
    monkeypatch.setenv("PRIVTRAIL_HOME", str(tmp_path / "home"))
    return fake


def event(subject: str, **extra: Any) -> dict[str, Any]:
    base = {
        "type": "consent_given",
        "event_id": new_event_id(),
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": {"service": "shop"},
        "actor": {"kind": "service", "id": "shop"},
        "subject_id": subject,
        "subject_key_id": "k1",
        "scope": "marketing",
    }
    base.update(extra)
    return base


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_emit_sends_all_valid_lines(
    broker: FakeBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(tmp_path / "e.jsonl", [event("ps_a"), "", event("ps_b")])
    assert run(["emit", str(path)]) == 0
    assert "sent 2, refused 0" in capsys.readouterr().out
    assert [decode_event(v).subject_id for v in broker.values()] == ["ps_a", "ps_b"]


def test_emit_refuses_bad_lines_by_number_and_exits_non_zero(
    broker: FakeBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[Any] = [
        event("ps_ok"),
        "{not json",
        event("ps_x", scope="user@example.invalid"),
        event("ps_x", scope="horoscopes"),
        [1, 2],
        {k: v for k, v in event("ps_x").items() if k != "actor"},
        event("ps_ok2"),
    ]
    path = write_lines(tmp_path / "e.jsonl", lines)
    assert run(["emit", str(path)]) == 1
    out = capsys.readouterr()
    assert "sent 2, refused 5" in out.out
    assert "line 2: not valid JSON" in out.err
    assert "line 3: scope: looks like a personal value" in out.err
    assert "line 4: consent_given: not in the policy vocabulary: scope:horoscopes" in out.err
    assert "line 5: an event must be a JSON object" in out.err
    assert "line 6: actor: missing required field" in out.err
    assert len(broker.values()) == 2


def test_emit_pseudonymise_needs_the_key_and_uses_it(
    broker: FakeBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_lines(tmp_path / "e.jsonl", [event("customer-1")])
    assert run(["emit", str(path), "--pseudonymise"]) == 2
    assert "PRIVTRAIL_PSEUDONYM_KEY" in capsys.readouterr().err
    monkeypatch.setenv("PRIVTRAIL_PSEUDONYM_KEY", KEY.hex())
    monkeypatch.setenv("PRIVTRAIL_PSEUDONYM_KEY_ID", "k9")
    assert run(["emit", str(path), "--pseudonymise"]) == 0
    (sent,) = [decode_event(v) for v in broker.values()]
    assert sent.subject_id == Pseudonymiser(KEY, "k9").pseudonym("customer-1")
    assert sent.subject_key_id == "k9"


def test_emit_reports_unacknowledged_events_as_spooled(
    broker: FakeBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker.refuse_producers = True
    path = write_lines(tmp_path / "e.jsonl", [event("ps_a")])
    assert run(["emit", str(path), "--timeout", "0.5"]) == 3
    assert "in the spool" in capsys.readouterr().err
    broker.refuse_producers = False
    empty = write_lines(tmp_path / "none.jsonl", [""])
    assert run(["emit", str(empty)]) == 0  # the next run delivers what was left
    assert [decode_event(v).subject_id for v in broker.values()] == ["ps_a"]
