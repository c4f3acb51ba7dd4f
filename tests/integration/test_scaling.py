"""Scaling by partitions, and failover (issue 8, "past one machine").

Two workers (one Faust app id: one consumer group) and two sinks (one sink group) run
against a 4-partition events topic on the session stack. A COLABOX workload whose alerts
the batch Engine computes beforehand goes through the SDK. Once events are flowing, one
worker and one sink are SIGKILLed. The survivors must take over their partitions.

What is checked, and which guarantee each check stands for:

- **takeover**: events sent *after* the kill land in every partition of the valid topic
  (each partition's worker and sink is then a survivor), and the groups end with one member;
- **no loss**: every alert the Engine expects is on the alerts topic and in ClickHouse, and
  every event sent is in ``privtrail.events``;
- **nothing spurious**: no alert id the Engine does not raise (state was recovered, not
  re-applied: a replayed ``corrected`` would find no open request, and so on);
- **the sink is exactly-once per Kafka record**: no two rows share a (partition, offset)
  of the valid or the alerts topic, and every partition's leaf indexes are 0..n-1;
- **the worker is at-least-once** (docs/streams.md, "Processing guarantee"): after the
  kill the survivor may re-process records the dead worker had not committed, so the same
  alert (and the same event on the valid topic) may appear twice on the *topics*. Such
  copies must be recognisable: same ``alert_id`` and identical content;
- **rows in ClickHouse are unique by id**: one row per ``alert_id`` and per ``event_id``.
  docs/streams.md says the sink de-duplicates alerts on ``alert_id``. If this assertion
  fails while the ones above pass, the duplicates came from a worker replay and the sink
  (``sinks/``) stored them: that is a sink gap, not a loss.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from privtrail.bench.pipeline import Children, RunNames
from privtrail.bench.workload import WorkloadConfig, all_items, setup_events
from privtrail.stack import Stack

pytestmark = pytest.mark.integration

PARTITIONS = 4
EVENTS = 3000
RATE = 150.0  # events/s: well below what two workers take, so the kill is the only stress
KILL_AFTER = 0.3  # share of the events sent before the kill
TIMEOUT = 150.0


def _wait(
    what: str,
    probe: Any,
    children: Children,
    timeout: float = TIMEOUT,
    allow_dead: frozenset[str] = frozenset(),
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = set(children.dead()) - allow_dead
        if dead:
            pytest.fail(f"{sorted(dead)} exited while waiting for {what}\n{children.log_tail()}")
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{children.log_tail()}")


def _owners(admin: Any, group: str, topic: str) -> list[set[int]] | None:
    """Partitions of ``topic`` each member of a Stable ``group`` owns; None while rebalancing."""
    info = admin.describe_groups([group])[group]
    if info.get("group_state") != "Stable":
        return None
    owned = []
    for member in info.get("members") or []:
        assignment = member.get("member_assignment") or {}
        parts: set[int] = set()
        for entry in assignment.get("assigned_partitions", []):
            if entry.get("topic") == topic:
                parts.update(entry.get("partitions", []))
        owned.append(parts)
    return owned


def _split(admin: Any, group: str, topic: str, members: int) -> bool:
    """True when ``members`` members share all partitions of ``topic``, each owning some."""
    owned = _owners(admin, group, topic)
    return (
        owned is not None
        and len(owned) == members
        and all(owned)
        and set().union(*owned) == set(range(PARTITIONS))
    )


def _query(client: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(sql, parameters=params).result_rows]


def test_survivors_take_over_with_no_lost_or_duplicated_alert(
    stack: Stack, ch_admin: Any, ch_investigator: Any, kafka_admin: Any, tmp_path: Path
) -> None:
    from kafka import KafkaConsumer
    from privtrail.sinks.migrate import migrate
    from privtrail.sinks.settings import SinkSettings, load_signer
    from privtrail.streams.settings import WorkerSettings
    from privtrail.streams.topics import ensure_topics

    from privtrail.engine import Engine
    from privtrail.events import parse_event
    from privtrail.policy import default_policy
    from privtrail.sdk import AuditClient
    from privtrail.wire import decode_alert

    migrate(ch_admin)
    names = RunNames(uuid.uuid4().hex[:8])
    topics = names.topics
    env = names.env(
        bootstrap=stack.kafka.bootstrap,
        clickhouse_url=stack.clickhouse.http_url,
        home=tmp_path / "home",
        partitions=PARTITIONS,
    )
    env["PRIVTRAIL_SINK_BATCH_SECONDS"] = "0.2"
    ensure_topics(WorkerSettings.from_env(env))
    load_signer(SinkSettings.from_env(env), tmp_path / "home")  # both sinks share one key

    # 100 subjects per desk (limit 200): BULK_ACCESS cannot fire, so every expected alert
    # is independent of how the partitions interleave.
    config = WorkloadConfig(
        events=EVENTS, subjects=800, actors=8, violation_rate=0.05, seed=8, prefix=f"sc{names.run}"
    )
    setup = setup_events(config)
    items = all_items(config, shards=1)
    engine = Engine(default_policy())
    expected: dict[str, str] = {}  # alert_id -> rule
    for form in [*setup, *(w.event for w in items)]:
        for alert in engine.process(parse_event(form)):
            expected[alert.alert_id] = alert.rule
    assert len(expected) > 50, "the workload must raise alerts to lose"

    children = Children(env, tmp_path / "logs")
    for name in ("worker-1", "worker-2"):
        children.start(name, "worker")
    for name in ("sink-1", "sink-2"):
        children.start(name, "sink")
    audit = AuditClient(
        bootstrap=stack.kafka.bootstrap,
        service="scaling-test",
        topic=topics.events,
        dev_mode=True,
        spool_dir=tmp_path / "spool",
    )
    try:
        # Authorisations first and landed, so no staff action overtakes its authorisation.
        for form in setup:
            audit.emit_json(form)
        assert audit.flush(30)

        def landed() -> int:
            return int(
                _query(
                    ch_investigator,
                    "SELECT count() FROM privtrail.events WHERE log_topic = {t:String}",
                    t=topics.valid,
                )[0][0]
            )

        _wait("the setup events in ClickHouse", lambda: landed() >= len(setup), children)
        _wait(
            "two workers and two sinks sharing the partitions",
            lambda: (
                _split(kafka_admin, names.worker_app_id, topics.events, 2)
                and _split(kafka_admin, names.sink_group, topics.valid, 2)
            ),
            children,
        )

        sent: list[str] = []
        done = threading.Event()

        def send() -> None:
            t0 = time.perf_counter()
            for n, item in enumerate(items):
                ahead = t0 + n / RATE - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
                sent.append(audit.emit_json(item.event))
            audit.flush(60)
            done.set()

        sender = threading.Thread(target=send, name="scaling-sender", daemon=True)
        sender.start()
        _wait(
            "events flowing before the kill",
            lambda: len(sent) >= KILL_AFTER * EVENTS and landed() >= len(setup) + 200,
            children,
        )
        children.kill("worker-1")
        children.kill("sink-1")
        killed_at = len(sent)
        dead = frozenset({"worker-1", "sink-1"})
        _wait("the sender", done.is_set, children, allow_dead=dead)
        total = len(setup) + EVENTS
        _wait("every event in ClickHouse", lambda: landed() >= total, children, allow_dead=dead)

        def alert_ids() -> dict[str, int]:
            rows = _query(
                ch_investigator,
                "SELECT alert_id, count() FROM privtrail.alerts "
                "WHERE kafka_topic = {t:String} GROUP BY alert_id",
                t=topics.alerts,
            )
            return {r[0]: int(r[1]) for r in rows}

        _wait(
            "every expected alert in ClickHouse",
            lambda: expected.keys() <= alert_ids().keys(),
            children,
            allow_dead=dead,
        )
        # takeover, as the broker sees it: the survivor owns every partition
        _wait(
            "the survivors owning every partition",
            lambda: (
                _split(kafka_admin, names.worker_app_id, topics.events, 1)
                and _split(kafka_admin, names.sink_group, topics.valid, 1)
                and _split(kafka_admin, names.sink_group, topics.alerts, 1)
            ),
            children,
            timeout=60,
            allow_dead=dead,
        )
        time.sleep(3)  # let late duplicates (a replay's tail) land before counting them
        in_ch = alert_ids()
    finally:
        audit.close()
        children.stop()

    # takeover, as the data shows it: events sent after the kill landed in every partition
    after = sent[killed_at:]
    parts = _query(
        ch_investigator,
        "SELECT DISTINCT log_partition FROM privtrail.events "
        "WHERE log_topic = {t:String} AND event_id IN {ids:Array(String)}",
        t=topics.valid,
        ids=after,
    )
    assert sorted(p[0] for p in parts) == list(range(PARTITIONS))

    # no loss, nothing spurious (ClickHouse)
    assert expected.keys() - in_ch.keys() == set(), "alerts lost"
    assert in_ch.keys() - expected.keys() == set(), "alerts the Engine does not raise"
    event_ids = {
        r[0]
        for r in _query(
            ch_investigator,
            "SELECT DISTINCT event_id FROM privtrail.events WHERE log_topic = {t:String}",
            t=topics.valid,
        )
    }
    assert set(sent) | {f["event_id"] for f in setup} == event_ids

    # the topic: every expected alert, and any copy identical to the first
    consumer = KafkaConsumer(
        topics.alerts,
        bootstrap_servers=stack.kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    first: dict[str, dict[str, Any]] = {}
    topic_copies = 0
    for record in consumer:
        alert = decode_alert(record.value).to_json()
        if alert["alert_id"] in first:
            topic_copies += 1
            assert alert == first[alert["alert_id"]], "a duplicate alert differs"
        first.setdefault(alert["alert_id"], alert)
    consumer.close()
    assert first.keys() == expected.keys()

    # the sink: exactly one row per Kafka record, leaf indexes 0..n-1 per partition
    per_record = _query(
        ch_investigator,
        "SELECT count(), uniqExact(log_partition, kafka_offset)"
        " FROM privtrail.events WHERE log_topic = {t:String}",
        t=topics.valid,
    )
    assert per_record[0][0] == per_record[0][1]
    per_alert_record = _query(
        ch_investigator,
        "SELECT count(), uniqExact(kafka_partition, "
        "kafka_offset) FROM privtrail.alerts WHERE kafka_topic = {t:String}",
        t=topics.alerts,
    )
    assert per_alert_record[0][0] == per_alert_record[0][1]
    leaves = _query(
        ch_investigator,
        "SELECT log_partition, count(), min(leaf_index), "
        "max(leaf_index), uniqExact(leaf_index) FROM privtrail.events WHERE "
        "log_topic = {t:String} GROUP BY log_partition",
        t=topics.valid,
    )
    for partition, n, lo, hi, distinct in leaves:
        assert (lo, hi, distinct) == (0, n - 1, n), f"partition {partition} leaves"

    # unique rows by id in ClickHouse (see the module docstring for what a failure means)
    duplicated_alerts = {a: n for a, n in in_ch.items() if n > 1}
    event_rows = _query(
        ch_investigator,
        "SELECT count() FROM privtrail.events WHERE log_topic = {t:String}",
        t=topics.valid,
    )[0][0]
    assert not duplicated_alerts and event_rows == len(event_ids), (
        f"{len(duplicated_alerts)} alert ids with several rows "
        f"({sum(duplicated_alerts.values()) - len(duplicated_alerts)} extra rows), "
        f"{event_rows - len(event_ids)} extra event rows; {topic_copies} duplicate alert "
        "records on the topic (worker at-least-once replay)"
    )
