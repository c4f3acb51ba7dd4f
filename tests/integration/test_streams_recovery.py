"""A worker killed with SIGKILL mid-stream recovers its tables from the changelog.

The workload's alerts depend on state in both tables: a subject whose ``collected`` was
forgotten raises NOT_COLLECTED instead of nothing, a staff member whose authorisation
was forgotten raises UNAUTHORIZED_HANDLER, an open correction forgotten hides
USE_DURING_CORRECTION. So lost state shows up as extra or missing alerts, lost
processing as missing alerts. The worker runs at least once: duplicates (same alert id)
are allowed and counted, distinct alerts must equal the Engine's exactly.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventforms import OFFICER, SUPPORT_DESK, FormLog, collected
from test_streams_e2e import (
    Names,
    WorkerProcess,
    alert_key,
    expected_alerts,
    letter_tag,
    read_alerts,
    sdk_client,
    wait_for,
)

from privtrail.bench.workload import number_letters
from privtrail.events import parse_event

pytestmark = pytest.mark.integration

STAFF = [f"agent-{k}" for k in range(5)]


INTRUDER = "agent-9"


def workload(tag: str, subjects: int = 100, rounds: int = 12) -> list[dict[str, Any]]:
    """JSON-form events, in time order, ending a little before now."""
    log = FormLog(f"rc-{tag}", datetime.now(UTC) - timedelta(hours=3))
    forms, add = log.forms, log.add
    for handler in STAFF:
        add({"type": "handler_authorized", "handler_id": handler, "role": "support_agent"}, OFFICER)
    people = [f"ps_rc_{tag}_{number_letters(i)}" for i in range(subjects)]
    for subject in people:
        add(collected(subject), SUPPORT_DESK)
    for r in range(rounds):
        for i, subject in enumerate(people):
            staff = {"kind": "staff", "id": STAFF[i % len(STAFF)], "role": "support_agent"}
            step = r % 4
            if step == 0:
                add(
                    {
                        "type": "used",
                        "subject_id": subject,
                        "items": ["email"],
                        "purpose": "user_management",
                        "operation": "view",
                    },
                    staff,
                )
            elif step == 1:
                add(
                    {
                        "type": "correction_requested",
                        "subject_id": subject,
                        "request_id": f"corr-{r}-{i}",
                        "items": ["email"],
                    },
                    {"kind": "subject", "id": subject},
                )
            elif step == 2:
                who = staff if i % 7 else {"kind": "staff", "id": INTRUDER, "role": "support_agent"}
                add(
                    {
                        "type": "used",
                        "subject_id": subject,
                        "items": ["email"],
                        "purpose": "user_management",
                        "operation": "view",
                    },
                    who,
                )
            else:
                add(
                    {"type": "corrected", "subject_id": subject, "request_id": f"corr-{r - 2}-{i}"},
                    staff,
                )
                add(
                    {
                        "type": "used",
                        "subject_id": subject,
                        "items": ["phone"],
                        "purpose": "user_management",
                        "operation": "view",
                    },
                    staff,
                )
    return forms


def test_workload_depends_on_state() -> None:
    """The guard of the test below: forgetting state halfway changes the alerts."""
    forms = workload("self")
    events = [parse_event(f) for f in forms]
    now = datetime.now(UTC)
    full = expected_alerts(events, now)
    # Replaying the second half on fresh state, as a worker without recovery would:
    half = len(events) // 2
    forgetful = expected_alerts(events[:half], now) | expected_alerts(events[half:], now)
    assert full != forgetful
    assert len(full) > 100


def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path
) -> None:
    tag = letter_tag()
    # The input topic exists already, as in production; the worker checks its layout.
    names = Names(tag, events_topic=kafka_topic_factory(partitions=4, prefix="privacy.events"))
    worker = WorkerProcess(kafka_bootstrap, names, tmp_path / "home")
    forms = workload(tag)
    half = len(forms) // 2
    expected = expected_alerts([parse_event(f) for f in forms], datetime.now(UTC))
    try:
        worker.start()
        with sdk_client(kafka_bootstrap, names.events, tmp_path / "spool") as client:
            for form in forms[: len(STAFF)]:  # authorisations first, as in real life
                client.emit_json(form)
            assert client.flush(10)
            time.sleep(1)
            for form in forms[len(STAFF) : half]:
                client.emit_json(form)
            assert client.flush(30)
            wait_for(
                lambda: len(read_alerts(kafka_bootstrap, names.alerts)) > 0, 60, "the first alerts"
            )

            # The rest at a steady rate; the worker dies in the middle of it.
            done = threading.Event()

            def send_rest() -> None:
                for n, form in enumerate(forms[half:]):
                    client.emit_json(form)
                    if n % 20 == 0:
                        time.sleep(0.05)  # about 400 events/s
                done.set()

            sender = threading.Thread(target=send_rest)
            sender.start()
            time.sleep(1.0)
            worker.kill()
            at_kill = {alert_key(a) for a in read_alerts(kafka_bootstrap, names.alerts)}
            worker.start()
            sender.join(60)
            assert done.is_set()
            assert client.flush(30)

        assert at_kill < expected, "the kill must land mid-stream"
        assert at_kill <= expected

        def distinct() -> set[Any]:
            return {alert_key(a) for a in read_alerts(kafka_bootstrap, names.alerts)}

        wait_for(lambda: distinct() >= expected, 120, "every alert after the restart")
        time.sleep(3)
        alerts = read_alerts(kafka_bootstrap, names.alerts)
        got = {alert_key(a) for a in alerts}
        assert got - expected == set(), "extra alerts: state was lost or applied twice"
        assert expected - got == set(), "missing alerts: processing was lost"
        copies = Counter(a.alert_id for a in alerts)
        duplicates = sum(c - 1 for c in copies.values())
        # At least once: a duplicate is a byte-identical alert with the same id, which
        # consumers drop. Report how many so a change in behaviour is visible.
        print(f"alerts: {len(got)} distinct, {duplicates} duplicate copies after SIGKILL")
        assert "Recovery" in worker.log()
    finally:
        worker.stop()
