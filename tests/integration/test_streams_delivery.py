"""An output the broker refuses stops the worker before the offset moves past its record.

The refusal is real and deterministic: the alerts topic is created with a
``max.message.bytes`` smaller than any record batch, so the broker answers every alert
with MESSAGE_TOO_LARGE, which aiokafka does not retry. Before the delivery guard, the
worker logged the failure, committed the source offset and carried on: the alert was
lost for good. Now it must not commit past the violating event, must exit non-zero with
a log line naming the topic and the error, and once the topic is fixed a restarted
worker must deliver the alert, exactly once by ``alert_id``.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventforms import OFFICER, SUPPORT_DESK, FormLog, collected
from kafka.admin import ConfigResource, ConfigResourceType
from test_streams_e2e import (
    Names,
    WorkerProcess,
    alert_key,
    expected_alerts,
    letter_tag,
    read_alerts,
    read_topic,
    sdk_client,
    wait_for,
)

from privtrail.bench.workload import number_letters
from privtrail.events import parse_event
from privtrail.wire import decode_event

pytestmark = pytest.mark.integration

TOO_SMALL = "64"  # bytes: less than a record batch's header and one record
KAFKA_DEFAULT = "1048588"  # the broker's default max.message.bytes


def forms_for(tag: str, subjects: int = 20) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Harmless events (no alert), and one violation: a use for marketing of data
    collected for user management (two alerts, both on the subject side)."""
    log = FormLog(f"dl-{tag}", datetime.now(UTC) - timedelta(hours=1))
    forms, add = log.forms, log.add
    staff = {"kind": "staff", "id": "agent-a", "role": "support_agent"}
    add({"type": "handler_authorized", "handler_id": "agent-a", "role": "support_agent"}, OFFICER)
    people = [f"ps_dl_{tag}_{number_letters(i)}" for i in range(subjects)]
    use = {"type": "used", "items": ["email"], "operation": "view"}
    for subject in people:
        add(collected(subject), SUPPORT_DESK)
        add({**use, "subject_id": subject, "purpose": "user_management"}, staff)
    add({**use, "subject_id": people[0], "purpose": "marketing"}, staff)
    return forms[:-1], forms[-1]


def committed(admin: Any, group: str, topic: str) -> dict[int, int]:
    """partition -> committed offset of ``group`` on ``topic`` (absent: none yet)."""
    offsets = admin.list_group_offsets(group).get(group, {})
    return {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == topic}


def locate(bootstrap: str, topic: str, event_id: str) -> tuple[int, int]:
    """(partition, offset) of the event ``event_id`` on ``topic``."""
    for record in read_topic(bootstrap, topic):
        if decode_event(record.value).event_id == event_id:
            return record.partition, record.offset
    pytest.fail(f"{event_id} not on {topic}")


def wait_exit(worker: WorkerProcess, timeout: float) -> int:
    assert worker.proc is not None
    deadline = time.monotonic() + timeout
    while worker.proc.poll() is None:
        if time.monotonic() > deadline:
            pytest.fail(
                f"the worker kept running {timeout:.0f} s after the refused alert:\n"
                f"{worker.log()[-3000:]}"
            )
        time.sleep(0.5)
    return worker.proc.returncode


def test_an_unacknowledged_alert_is_never_committed_past_and_arrives_after_restart(
    kafka_bootstrap: str, kafka_admin: Any, tmp_path: Path
) -> None:
    tag = letter_tag()
    names = Names(tag)
    kafka_admin.create_topics(
        {
            names.alerts: {
                "num_partitions": 4,
                "replication_factor": 1,
                "configs": {"max.message.bytes": TOO_SMALL},
            }
        },
        wait_for_metadata=True,
    )
    harmless, violation = forms_for(tag)
    all_events = [parse_event(f) for f in [*harmless, violation]]
    assert expected_alerts(all_events[:-1], datetime.now(UTC)) == set()
    expected = expected_alerts(all_events, datetime.now(UTC))
    assert len(expected) >= 1

    worker = WorkerProcess(kafka_bootstrap, names, tmp_path / "home")
    group = names.app_id
    try:
        worker.start()
        with sdk_client(kafka_bootstrap, names.events, tmp_path / "spool") as client:
            for form in harmless:
                client.emit_json(form)
            assert client.flush(30)

            # The worker commits as usual while every output is acknowledged.
            def caught_up() -> bool:
                on_topic = len(read_topic(kafka_bootstrap, names.events))
                return on_topic == len(harmless) and (
                    sum(committed(kafka_admin, group, names.events).values()) == on_topic
                )

            wait_for(caught_up, 60, "the harmless events to be committed on the events topic")
            client.emit_json(violation)
            assert client.flush(30)

        code = wait_exit(worker, 120)
        log = worker.log()
        assert code == 1, f"exit code {code}: a supervisor must see a failure"
        assert "was not acknowledged by the broker" in log
        assert repr(names.alerts) in log and "MessageSizeTooLargeError" in log
        partition, offset = locate(kafka_bootstrap, names.events, violation["event_id"])
        at_stop = committed(kafka_admin, group, names.events)
        # Up to the violating event (the harmless ones before it were committed), not past.
        assert at_stop.get(partition, 0) == offset, f"committed {at_stop}, event at {offset}"
        assert read_alerts(kafka_bootstrap, names.alerts) == []

        # The operator fixes the topic; the restarted worker replays from the last commit.
        kafka_admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    names.alerts,
                    configs={"max.message.bytes": KAFKA_DEFAULT},
                )
            ]
        )
        worker.start()

        def got() -> set[Any]:
            return {alert_key(a) for a in read_alerts(kafka_bootstrap, names.alerts)}

        wait_for(lambda: got() >= expected, 90, "the alert after the restart")
        wait_for(
            lambda: committed(kafka_admin, group, names.events).get(partition, 0) > offset,
            30,
            "the commit past the violating event",
        )
        time.sleep(2)  # a further copy would be here by now
        alerts = read_alerts(kafka_bootstrap, names.alerts)
        assert {alert_key(a) for a in alerts} == expected
        # Exactly once by alert_id. Copies come only from replays: each time the
        # violating event is processed again (its offset was not committed), validate
        # forwards it to the valid topic once more (an arrival) and, enforcing it in
        # place, re-sends the alerts its first processing recorded.
        copies = Counter(a.alert_id for a in alerts)
        arrivals = sum(
            1
            for r in read_topic(kafka_bootstrap, names.valid)
            if decode_event(r.value).event_id == violation["event_id"]
        )
        # Each start of a worker (and a rebalance before its first commit, e.g. while the
        # crashed member's session expires) processes the uncommitted records again
        # (more arrivals, more copies): at least once. What must
        # hold: every expected alert arrived (above), and every copy is the same alert.
        assert arrivals >= 1
        assert min(copies.values()) >= 1, f"copies {copies}, arrivals {arrivals}"
        raw = read_topic(kafka_bootstrap, names.alerts)
        assert len({r.value for r in raw}) == len(copies), "copies are byte-identical"
        print(f"alerts: {len(copies)} distinct, {arrivals} copies each ({arrivals} arrivals)")
        assert worker.proc is not None and worker.proc.poll() is None
        assert "not acknowledged" not in worker.log()
    finally:
        worker.stop()
