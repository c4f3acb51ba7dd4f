"""Helpers for the sink's integration tests and benchmark (real Kafka, real ClickHouse).

Nothing here is mocked: :func:`produce` writes Avro single-object records with a plain
kafka-python producer, :func:`running_sink` runs the real :class:`Sink` loop in a thread and
:func:`sink_env` is what a ``privtrail sink`` subprocess needs to reach the same servers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from privtrail.alerts import Alert
from privtrail.config import Topics
from privtrail.events import BaseEvent
from privtrail.sinks.metrics import SinkMetrics
from privtrail.sinks.settings import ClickHouseUser, Secret, SinkSettings, connect
from privtrail.sinks.sink import Sink
from privtrail.sinks.store import HistoryStore
from privtrail.tlog import NoteSigner


def settings_for(stack: Any, valid: str, alerts: str, **overrides: Any) -> SinkSettings:
    """Settings for a sink on the test ``stack`` (a :class:`privtrail.stack.Stack`), with a
    fresh consumer group and a fresh throwaway checkpoint key."""
    users = stack.users
    signer_key, _ = NoteSigner.generate("privtrail.test")
    values: dict[str, Any] = {
        "clickhouse_url": stack.clickhouse.http_url,
        "writer": ClickHouseUser(users.writer.name, Secret(users.writer.password)),
        "admin": ClickHouseUser(users.admin.name, Secret(users.admin.password)),
        "investigator": ClickHouseUser(
            users.investigator.name, Secret(users.investigator.password)
        ),
        "kafka_bootstrap": stack.kafka.bootstrap,
        "topics": Topics(valid=valid, alerts=alerts),
        "group_id": f"sink-test-{uuid.uuid4().hex[:8]}",
        "batch_max_rows": 500,
        "batch_max_seconds": 0.2,
        "checkpoint_interval": 1.0,
        "log_origin": "privtrail.test/sink",
        "checkpoint_key": Secret(signer_key),
        "backoff_initial": 0.2,
        "backoff_max": 2.0,
    }
    values.update(overrides)
    return SinkSettings(**values)


def sink_env(settings: SinkSettings) -> dict[str, str]:
    """Environment variables that make ``privtrail sink`` (and verify/prove) use ``settings``."""
    env = {
        "PRIVTRAIL_CLICKHOUSE_URL": settings.clickhouse_url,
        "PRIVTRAIL_CH_WRITER_PASSWORD": settings.writer.password.value,
        "PRIVTRAIL_CH_ADMIN_PASSWORD": settings.admin.password.value,
        "PRIVTRAIL_CH_INVESTIGATOR_PASSWORD": settings.investigator.password.value,
        "PRIVTRAIL_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
        "PRIVTRAIL_TOPIC_VALID": settings.topics.valid,
        "PRIVTRAIL_TOPIC_ALERTS": settings.topics.alerts,
        "PRIVTRAIL_SINK_GROUP": settings.group_id,
        "PRIVTRAIL_SINK_BATCH_ROWS": str(settings.batch_max_rows),
        "PRIVTRAIL_SINK_BATCH_SECONDS": str(settings.batch_max_seconds),
        "PRIVTRAIL_CHECKPOINT_INTERVAL": str(settings.checkpoint_interval),
        "PRIVTRAIL_LOG_ORIGIN": settings.log_origin,
        "PRIVTRAIL_SINK_BACKOFF_INITIAL": str(settings.backoff_initial),
        "PRIVTRAIL_SINK_BACKOFF_MAX": str(settings.backoff_max),
    }
    if settings.checkpoint_key is not None:
        env["PRIVTRAIL_CHECKPOINT_KEY"] = settings.checkpoint_key.value
    if settings.crash_point:
        env["PRIVTRAIL_SINK_CRASH_POINT"] = settings.crash_point
    return env


def produce(
    bootstrap: str,
    topic: str,
    payloads: Iterable[bytes],
    *,
    key: Callable[[int], bytes | None] = lambda n: None,
) -> int:
    """Send ``payloads`` to ``topic`` and wait until Kafka acknowledged all; returns the count."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, batch_size=512 * 1024, acks="all"
    )
    count = 0
    try:
        for n, payload in enumerate(payloads):
            producer.send(topic, payload, key=key(n))
            count += 1
        producer.flush()
    finally:
        producer.close()
    return count


def encoded_events(events: Iterable[BaseEvent]) -> Iterator[bytes]:
    from privtrail.wire import encode_event

    return (encode_event(e) for e in events)  # type: ignore[arg-type]


def encoded_alerts(alerts: Iterable[Alert]) -> Iterator[bytes]:
    from privtrail.wire import encode_alert

    return (encode_alert(a) for a in alerts)


@contextmanager
def running_sink(settings: SinkSettings) -> Iterator[Sink]:
    """The real sink loop in a thread; on exit it is stopped (flush + checkpoint) and joined."""
    sink = Sink(
        settings,
        HistoryStore(connect(settings, "writer")),
        NoteSigner.from_key_string(settings.checkpoint_key.value)
        if settings.checkpoint_key
        else NoteSigner.from_key_string(NoteSigner.generate("privtrail.test")[0]),
        SinkMetrics(),
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            sink.run(stop)
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=run, name="privtrail-sink", daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        stop.set()
        thread.join(60)
    if errors:
        raise errors[0]


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
