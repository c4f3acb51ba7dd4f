"""Scaling by partitions, and failover (issue 8, "past one machine").

Two workers (one Faust app id: one consumer group) and two sinks (one sink group) run
against a 4-partition events topic on the session stack. A COLABOX workload whose alerts
the batch Engine computes beforehand goes through the SDK. Once events are flowing, one
worker and one sink are SIGKILLed. The survivors must take over their partitions.

The scenario runs once (a module fixture, about 75 s here); each test below checks one
guarantee, so a failure names exactly which one broke:

- ``test_survivors_take_over_every_partition``: the broker shows one member of each group
  owning every partition, and events sent after the kill landed in every partition;
- ``test_no_alert_or_event_is_lost``: every alert the Engine expects, and every event sent,
  is in ClickHouse;
- ``test_no_alert_the_engine_does_not_raise``: state was recovered, not re-applied (a
  replayed ``corrected`` would find no open request, and so on);
- ``test_the_sink_stores_each_kafka_record_once``: no two rows share a (partition, offset)
  of the valid or the alerts topic, and each partition's leaf indexes are 0..n-1;
- ``test_duplicates_on_the_alerts_topic_are_recognisable``: the worker is at least once
  (docs/streams.md, "Processing guarantee"), so after the kill the survivor re-processes
  what the dead worker had not committed and the same alert may be on the topic twice;
  every copy must carry the same ``alert_id`` and identical content;
- ``test_clickhouse_alert_rows_are_unique_by_alert_id``: one row per ``alert_id`` in
  ClickHouse; the sink drops a re-raised alert it already stored;
- ``test_clickhouse_event_rows_are_unique_by_event_id``: one row per ``event_id``. The sink
  de-duplicates events per Kafka record only, and after the kill validate re-sends the
  records the dead worker had not committed to the valid topic (same event, new offset), so
  the sink stores them again under new leaf indexes. This test fails until the sink (or
  the worker) drops them: a duplicate, not a loss; the tests above show nothing is lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass
class Failover:
    """What the scenario observed, for the tests below to judge."""

    topics: Any
    expected: dict[str, str]  # alert_id -> rule, from the Engine
    setup_ids: set[str]
    sent: list[str] = field(default_factory=list)  # event ids in sending order
    killed_at: int = 0  # len(sent) when worker-1 and sink-1 were killed
    alert_rows: dict[str, int] = field(default_factory=dict)  # alert_id -> rows in ClickHouse
    took_over: bool = False  # the broker showed one survivor owning every partition


@pytest.fixture(scope="module")
def failover(
    stack: Stack,
    ch_admin: Any,
    ch_investigator: Any,
    kafka_admin: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Failover]:
    """Run the scenario once (about a minute and a half); every test reads its outcome."""
    from privtrail.engine import Engine
    from privtrail.events import parse_event
    from privtrail.policy import default_policy
    from privtrail.sdk import AuditClient
    from privtrail.sinks.migrate import migrate
    from privtrail.sinks.settings import SinkSettings, load_signer
    from privtrail.streams.settings import WorkerSettings
    from privtrail.streams.topics import ensure_topics

    tmp_path = tmp_path_factory.mktemp("scaling")
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
    expected: dict[str, str] = {}
    for form in [*setup, *(w.event for w in items)]:
        for alert in engine.process(parse_event(form)):
            expected[alert.alert_id] = alert.rule
    assert len(expected) > 50, "the workload must raise alerts to lose"
    result = Failover(topics, expected, {f["event_id"] for f in setup})

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
    dead = frozenset({"worker-1", "sink-1"})

    def landed() -> int:
        return int(
            _query(
                ch_investigator,
                "SELECT count() FROM privtrail.events WHERE log_topic = {t:String}",
                t=topics.valid,
            )[0][0]
        )

    def alert_rows() -> dict[str, int]:
        rows = _query(
            ch_investigator,
            "SELECT alert_id, count() FROM privtrail.alerts "
            "WHERE kafka_topic = {t:String} GROUP BY alert_id",
            t=topics.alerts,
        )
        return {r[0]: int(r[1]) for r in rows}

    try:
        # Authorisations first and landed, so no staff action overtakes its authorisation.
        for form in setup:
            audit.emit_json(form)
        assert audit.flush(30)
        _wait("the setup events in ClickHouse", lambda: landed() >= len(setup), children)
        _wait(
            "two workers and two sinks sharing the partitions",
            lambda: (
                _split(kafka_admin, names.worker_app_id, topics.events, 2)
                and _split(kafka_admin, names.sink_group, topics.valid, 2)
            ),
            children,
        )

        done = threading.Event()

        def send() -> None:
            t0 = time.perf_counter()
            for n, item in enumerate(items):
                ahead = t0 + n / RATE - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
                result.sent.append(audit.emit_json(item.event))
            audit.flush(60)
            done.set()

        threading.Thread(target=send, name="scaling-sender", daemon=True).start()
        _wait(
            "events flowing before the kill",
            lambda: len(result.sent) >= KILL_AFTER * EVENTS and landed() >= len(setup) + 200,
            children,
        )
        children.kill("worker-1")
        children.kill("sink-1")
        result.killed_at = len(result.sent)
        _wait("the sender", done.is_set, children, allow_dead=dead)
        _wait(
            "every event in ClickHouse",
            lambda: landed() >= len(setup) + EVENTS,
            children,
            allow_dead=dead,
        )
        _wait(
            "every expected alert in ClickHouse",
            lambda: expected.keys() <= alert_rows().keys(),
            children,
            allow_dead=dead,
        )
        result.took_over = bool(
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
        )
        time.sleep(3)  # let late duplicates (a replay's tail) land before counting them
        result.alert_rows = alert_rows()
    finally:
        audit.close()
        children.stop()
    yield result


def test_survivors_take_over_every_partition(failover: Failover, ch_investigator: Any) -> None:
    assert failover.took_over  # the broker: one member of each group owns every partition
    # the data: events sent after the kill landed in every partition of the valid topic
    parts = _query(
        ch_investigator,
        "SELECT DISTINCT log_partition FROM privtrail.events "
        "WHERE log_topic = {t:String} AND event_id IN {ids:Array(String)}",
        t=failover.topics.valid,
        ids=failover.sent[failover.killed_at :],
    )
    assert sorted(p[0] for p in parts) == list(range(PARTITIONS))


def test_no_alert_or_event_is_lost(failover: Failover, ch_investigator: Any) -> None:
    assert failover.expected.keys() - failover.alert_rows.keys() == set()
    stored = {
        r[0]
        for r in _query(
            ch_investigator,
            "SELECT DISTINCT event_id FROM privtrail.events WHERE log_topic = {t:String}",
            t=failover.topics.valid,
        )
    }
    assert set(failover.sent) | failover.setup_ids == stored


def test_no_alert_the_engine_does_not_raise(failover: Failover) -> None:
    # State recovered, not re-applied: a replayed ``corrected`` would find no open request.
    assert failover.alert_rows.keys() - failover.expected.keys() == set()


def test_the_sink_stores_each_kafka_record_once(failover: Failover, ch_investigator: Any) -> None:
    t = failover.topics
    events = _query(
        ch_investigator,
        "SELECT count(), uniqExact(log_partition, kafka_offset) "
        "FROM privtrail.events WHERE log_topic = {t:String}",
        t=t.valid,
    )
    assert events[0][0] == events[0][1]
    alerts = _query(
        ch_investigator,
        "SELECT count(), uniqExact(kafka_partition, kafka_offset) "
        "FROM privtrail.alerts WHERE kafka_topic = {t:String}",
        t=t.alerts,
    )
    assert alerts[0][0] == alerts[0][1]
    leaves = _query(
        ch_investigator,
        "SELECT log_partition, count(), min(leaf_index), "
        "max(leaf_index), uniqExact(leaf_index) FROM privtrail.events WHERE "
        "log_topic = {t:String} GROUP BY log_partition",
        t=t.valid,
    )
    assert len(leaves) == PARTITIONS
    for partition, n, lo, hi, distinct in leaves:
        assert (lo, hi, distinct) == (0, n - 1, n), f"partition {partition} leaves"


def test_duplicates_on_the_alerts_topic_are_recognisable(failover: Failover, stack: Stack) -> None:
    from kafka import KafkaConsumer

    from privtrail.wire import decode_alert

    consumer = KafkaConsumer(
        failover.topics.alerts,
        bootstrap_servers=stack.kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    first: dict[str, dict[str, Any]] = {}
    for record in consumer:
        alert = decode_alert(record.value).to_json()
        assert alert == first.setdefault(alert["alert_id"], alert), "a copy differs"
    consumer.close()
    assert first.keys() == failover.expected.keys()


def test_clickhouse_alert_rows_are_unique_by_alert_id(failover: Failover) -> None:
    """The sink drops an alert whose alert_id is already stored (a worker replay re-raises
    it with the same id)."""
    extra = {a: n - 1 for a, n in failover.alert_rows.items() if n > 1}
    assert not extra, f"{sum(extra.values())} extra alert rows in ClickHouse"


def test_clickhouse_event_rows_are_unique_by_event_id(
    failover: Failover, ch_investigator: Any
) -> None:
    """One row per event_id. A failure here with the tests above passing means validate
    re-sent events to the valid topic during the replay (same id, new offset) and the sink
    stored each copy as a new leaf: a duplicate, not a loss."""
    rows, ids = _query(
        ch_investigator,
        "SELECT count(), uniqExact(event_id) FROM privtrail.events WHERE log_topic = {t:String}",
        t=failover.topics.valid,
    )[0]
    assert rows == ids, f"{rows - ids} extra event rows in ClickHouse"
