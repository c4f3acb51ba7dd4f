"""`privtrail check`, in-process through the CLI's main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privtrail.cli.main import main

pytestmark = pytest.mark.unit

FIX = Path(__file__).parent / "fixtures"
EVENTS = FIX / "events"


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    with pytest.raises(SystemExit) as info:
        main(["check", *args])
    out, err = capsys.readouterr()
    code = info.value.code if isinstance(info.value.code, int) else 1
    alerts = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, alerts, err


def test_clean_file_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, err = check(capsys, str(EVENTS / "clean.jsonl"))
    assert (code, alerts) == (0, [])
    assert "checked 3 events" in err and "events/s" in err


def test_lines_are_ordered_by_occurred_at(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, _ = check(capsys, str(EVENTS / "clean_shuffled.jsonl"))
    assert (code, alerts) == (0, [])  # the use comes after its collection once sorted


def test_ties_keep_input_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, _ = check(capsys, str(EVENTS / "tie_use_first.jsonl"))
    assert code == 1
    assert [a["rule"] for a in alerts] == ["NOT_COLLECTED"]


def test_alert_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, _ = check(capsys, str(EVENTS / "tie_use_first.jsonl"))
    alert = alerts[0]
    for key in (
        "rule",
        "event_id",
        "subject_id",
        "severity",
        "message",
        "occurred_at",
        "policy_version",
        "evidence",
    ):
        assert key in alert
    assert alert["event_id"] == "evt-1"
    assert alert["policy_version"] == "colabox-v1"
    assert alert["occurred_at"] == "2025-03-01T09:00:00Z"


def test_deadlines_judged_at_latest_event_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, err = check(capsys, str(EVENTS / "deadlines.jsonl"))
    assert (code, alerts) == (0, [])
    assert "deadlines judged at 2025-03-06T09:00:00Z" in err


def test_as_of_judges_deadlines(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, _ = check(
        capsys, str(EVENTS / "deadlines.jsonl"), "--as-of", "2025-03-20T00:00:00Z"
    )
    assert code == 1
    rules = {a["rule"]: a for a in alerts}
    assert set(rules) == {"CORRECTION_NOT_PROPAGATED", "ACCESS_OVERDUE"}
    assert rules["CORRECTION_NOT_PROPAGATED"]["evidence"]["recipient"] == "salesforce"
    assert rules["CORRECTION_NOT_PROPAGATED"]["event_id"] == "evt-4"
    assert rules["ACCESS_OVERDUE"]["event_id"] == "evt-5"


def test_as_of_before_some_events_leaves_them_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, err = check(
        capsys, str(EVENTS / "deadlines.jsonl"), "--as-of", "2025-03-02T12:00:00Z"
    )
    assert code == 0
    assert "3 event(s) after --as-of not evaluated" in err


def test_invalid_lines_duplicates_and_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    path = EVENTS / "mixed_bad.jsonl"
    code, alerts, err = check(capsys, str(path))
    assert code == 2
    assert f"{path}:2: invalid event: not valid JSON" in err
    assert f"{path}:3: invalid event: occurred_at: missing required field" in err
    assert f"{path}:4: invalid event: type: unknown event type 'teleported'" in err
    assert ":7:" not in err  # a blank line is not an event
    assert "1 repeated event_id(s) ignored" in err
    assert "3 invalid line(s) skipped" in err
    # the valid lines were still checked
    assert [a["rule"] for a in alerts] == ["UNKNOWN_TERM"]


def test_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", str(EVENTS / "tie_use_first.jsonl"), "--format", "table"])
    out, _ = capsys.readouterr()
    assert info.value.code == 1
    assert "NOT_COLLECTED" in out and "1 alert" in out


def test_bad_policy_exits_two_naming_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    bad = FIX / "policies" / "unknown_item_in_context.yaml"
    code, _, err = check(capsys, str(EVENTS / "clean.jsonl"), "--policy", str(bad))
    assert code == 2
    assert f"{bad}:53:" in err


def test_custom_policy_is_used(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "privtrail/policy/colabox.yaml").read_text("utf-8")
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        text.replace(
            "    items: [company_name, contact_name, region, phone, email]\n",
            "    items: [company_name, region, phone, email]\n",
        )
    )
    code, alerts, _ = check(capsys, str(EVENTS / "clean.jsonl"), "--policy", str(strict))
    assert code == 1 and [a["rule"] for a in alerts] == ["OVER_COLLECTION"]


def test_missing_events_file_exits_two(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = check(capsys, str(tmp_path / "none.jsonl"))
    assert code == 2 and "cannot read" in err


def test_bad_as_of(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(capsys, str(EVENTS / "clean.jsonl"), "--as-of", "yesterday")
    assert code == 2 and "RFC 3339" in err
