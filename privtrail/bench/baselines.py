"""The bare baselines, measured in the same run as the pipeline so every figure is also a
ratio to what the hardware and the servers allow:

- a raw kafka-python producer sending the already-encoded events (the SDK's producer
  settings: ``acks=all``, idempotence, the same linger and batch size) to a scratch topic;
- a raw aiokafka consume-produce loop: read that topic, write every record to another,
  no decoding, no rules, no tables (one hop of what the worker does twice);
- a raw clickhouse-connect insert of the same rows the sink would build, into a scratch
  copy of ``privtrail.events`` that is dropped afterwards (the history stays clean).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from privtrail.events import BaseEvent


@dataclass(frozen=True, slots=True)
class BaselineResult:
    name: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.rate, 1),
        }


def raw_producer(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> BaselineResult:
    """Send ``(key, value)`` records with a bare KafkaProducer; time until all acknowledged."""
    from kafka import KafkaProducer

    from privtrail.sdk.producer import DEFAULTS, FIXED

    # The SDK's own producer settings, so the ratio measures the SDK and not a setting.
    settings = {**DEFAULTS, **FIXED}
    settings.pop("client_id", None)
    producer = KafkaProducer(bootstrap_servers=bootstrap, **settings)
    try:
        producer.send(topic, key=records[0][0], value=records[0][1]).get(timeout=30)  # warm
        started = time.perf_counter()
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=300)
        return BaselineResult("raw_producer", len(records), time.perf_counter() - started)
    finally:
        producer.close(timeout=10)


async def _consume_produce(
    bootstrap: str, src: str, dst: str, count: int, timeout: float
) -> BaselineResult:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await producer.start()
    await consumer.start()
    seen = 0
    started: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                if started is None and records:
                    started = time.perf_counter()  # the first record, not the group join
                for r in records:
                    await producer.send(dst, key=r.key, value=r.value)
                seen += len(records)
        await producer.flush()
        elapsed = time.perf_counter() - (started or time.perf_counter())
        return BaselineResult("raw_consume_produce", seen, elapsed)
    finally:
        await consumer.stop()
        await producer.stop()


def raw_consume_produce(
    bootstrap: str, src: str, dst: str, count: int, timeout: float = 300.0
) -> BaselineResult:
    """Copy ``count`` records from ``src`` to ``dst`` with a bare aiokafka loop."""
    return asyncio.run(_consume_produce(bootstrap, src, dst, count, timeout))


def raw_clickhouse_insert(
    admin: Any, events: Sequence[BaseEvent], run: str, batch: int = 50_000
) -> BaselineResult:
    """Insert the sink's rows for ``events`` into a scratch copy of ``privtrail.events``.

    The rows (typed values, canonical JSON, leaf hashes) are built before the clock starts:
    this is what ClickHouse itself takes, the sink's own work excluded.
    """
    from privtrail.sinks.rows import EVENT_COLUMNS, fresh_log_rows

    table = f"privtrail.bench_scratch_{run}"
    now = datetime.now(UTC)
    rows = fresh_log_rows(events, topic=f"{run}-bare", ingested_at=now)
    admin.command(f"CREATE TABLE {table} AS privtrail.events")
    try:
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            admin.insert(table, rows[start : start + batch], column_names=list(EVENT_COLUMNS))
        elapsed = time.perf_counter() - started
    finally:
        admin.command(f"DROP TABLE IF EXISTS {table}")
    return BaselineResult("raw_clickhouse_insert", len(rows), elapsed)
