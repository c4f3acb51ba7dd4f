"""The sink survives the two bad days: killed between insert and offset commit, and a
ClickHouse outage. Real Kafka, real ClickHouse, a real `privtrail sink` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from privtrail.sinks.migrate import migrate
from privtrail.sinks.samples import sample_events
from privtrail.sinks.settings import SinkSettings, load_verifiers
from privtrail.sinks.testing import encoded_events, produce, running_sink, settings_for, sink_env
from privtrail.sinks.testing import wait_for as _wait_for
from privtrail.sinks.verify import verify_history

pytestmark = pytest.mark.integration


def _summary(client: Any, topic: str) -> tuple[int, int, int]:
    """(rows, distinct event ids, partitions whose leaf indexes are not exactly 0..n-1)."""
    rows, ids = client.query(
        "SELECT count(), uniqExact(event_id) FROM privtrail.events WHERE log_topic={t:String}",
        parameters={"t": topic},
    ).result_rows[0]
    bad = client.query(
        "SELECT countIf(NOT (c = u AND mn = 0 AND mx = c - 1)) FROM ("
        "SELECT count() AS c, uniqExact(leaf_index) AS u, min(leaf_index) AS mn, "
        "max(leaf_index) AS mx FROM privtrail.events WHERE log_topic={t:String} "
        "GROUP BY log_partition)",
        parameters={"t": topic},
    ).result_rows[0][0]
    return int(rows), int(ids), int(bad)


def _landed(client: Any, topic: str) -> int:
    return _summary(client, topic)[0]


def _committed(kafka_admin: Any, group: str) -> int:
    offsets = kafka_admin.list_group_offsets(group).get(group, {})
    return sum(o.offset for o in offsets.values() if o.offset > 0)


def _sink_process(settings: SinkSettings, home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **sink_env(settings), "PRIVTRAIL_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "privtrail.cli.main", "sink"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkill_between_insert_and_commit_leaves_no_duplicate_and_no_gap(
    stack: Any,
    ch_admin: Any,
    kafka_admin: Any,
    kafka_topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    migrate(ch_admin)
    valid = kafka_topic_factory(partitions=2, prefix="sink-crash")
    alerts = kafka_topic_factory(partitions=1, prefix="sink-crash-alerts")
    total = produce(
        stack.kafka.bootstrap,
        valid,
        encoded_events(sample_events(3000, prefix="crash")),
        key=lambda n: str(n).encode(),
    )
    settings = settings_for(stack, valid, alerts, batch_max_rows=400)
    crashing = _sink_process(replace(settings, crash_point="after_insert:3"), tmp_path)
    try:
        code = crashing.wait(timeout=120)
    finally:
        if crashing.poll() is None:
            crashing.kill()
    assert code == -signal.SIGKILL, (
        crashing.stderr.read().decode()[-2000:] if crashing.stderr else ""
    )
    landed = _landed(ch_admin, valid)
    committed = _committed(kafka_admin, settings.group_id)
    # The moment we aimed at: rows in ClickHouse that Kafka does not know were consumed.
    assert 0 < landed < total
    assert committed < landed

    restarted = _sink_process(settings, tmp_path)
    try:
        assert _wait_for(lambda: _landed(ch_admin, valid) >= total, timeout=120)
        time.sleep(1.0)  # let anything wrongly re-sent arrive before counting
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=60) == 0
    assert _summary(ch_admin, valid) == (total, total, 0)
    report = verify_history(ch_admin, valid, load_verifiers(settings), origin=settings.origin)
    assert report.ok, report.render()


def test_clickhouse_outage_pauses_and_loses_nothing(
    stack: Any, ch_admin: Any, kafka_topic_factory: Callable[..., str]
) -> None:
    migrate(ch_admin)
    valid = kafka_topic_factory(partitions=2, prefix="sink-outage")
    alerts = kafka_topic_factory(partitions=1, prefix="sink-outage-alerts")
    settings = settings_for(stack, valid, alerts)
    first = produce(
        stack.kafka.bootstrap, valid, encoded_events(sample_events(400, prefix="out-a"))
    )
    with running_sink(settings) as sink:
        registry = sink.metrics.registry
        assert _wait_for(lambda: _landed(ch_admin, valid) >= first)
        stack.clickhouse.stop()
        try:
            second = produce(
                stack.kafka.bootstrap, valid, encoded_events(sample_events(600, prefix="out-b"))
            )
            assert _wait_for(
                lambda: registry.get_sample_value("privtrail_sink_clickhouse_up") == 0,
                timeout=30,
            ), "the sink did not notice the outage"
            time.sleep(3.0)  # several failed retries, with backoff
            lag = sum(
                registry.get_sample_value(
                    "privtrail_sink_consumer_lag", {"topic": valid, "partition": str(p)}
                )
                or 0
                for p in range(2)
            )
            assert lag > 0, "the lag during the outage should be visible"
        finally:
            stack.clickhouse.start()
        assert _wait_for(lambda: _landed(ch_admin, valid) >= first + second, timeout=120)
        assert registry.get_sample_value("privtrail_sink_clickhouse_up") == 1
        assert (registry.get_sample_value("privtrail_sink_insert_failures_total") or 0) > 0
    assert _summary(ch_admin, valid) == (first + second, first + second, 0)
    report = verify_history(ch_admin, valid, load_verifiers(settings), origin=settings.origin)
    assert report.ok, report.render()
