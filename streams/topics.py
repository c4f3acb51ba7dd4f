"""Create the worker's topics up front, with matching partition counts.

Faust only declares its internal topics (table changelogs); the source topics must exist
before the agents subscribe, and a broker with ``auto.create.topics.enable`` would
otherwise create them on first metadata request with the broker default partition
count, silently breaking co-partitioning. So the worker creates every topic it reads
or writes before the app starts, and checks the ones that already exist.

Co-partitioned topics (the subject and actor repartition topics, the deadline ticks)
must have exactly the tables' partition count: Faust writes a table's changelog to the
partition of the record being processed. The other topics may differ; a mismatch there
is reported, not fatal. The events topic should have that count too: then validate
enforces each event on its own partition, in place, and only events that arrived on
another partition than their subject's take the repartition hop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from privtrail.streams.errors import StreamsError, TopicLayoutError
from privtrail.streams.settings import WorkerSettings

log = logging.getLogger(__name__)

_UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    copartitioned: bool
    configs: tuple[tuple[str, str], ...] = ()


def topic_plan(settings: WorkerSettings) -> list[TopicSpec]:
    """Every topic the worker reads or writes (changelogs excluded: Faust owns those)."""
    n, t = settings.partitions, settings.topics
    return [
        TopicSpec(t.events, n, copartitioned=False),
        TopicSpec(t.valid, n, copartitioned=False),
        TopicSpec(t.dlq, n, copartitioned=False),
        TopicSpec(t.alerts, n, copartitioned=False),
        TopicSpec(settings.subjects_topic, n, copartitioned=True),
        TopicSpec(settings.actors_topic, n, copartitioned=True),
        # Ticks are small and short-lived: a day of them is plenty for recovery.
        TopicSpec(
            settings.ticks_topic,
            n,
            copartitioned=True,
            configs=(("retention.ms", str(24 * 3600 * 1000)),),
        ),
    ]


def existing_partitions(admin: Any, names: list[str]) -> dict[str, int]:
    """name -> partition count of those of ``names`` that exist."""
    out: dict[str, int] = {}
    for desc in admin.describe_topics(names):
        if desc.get("error_code", 0) == _UNKNOWN_TOPIC or not desc.get("partitions"):
            continue
        out[desc["name"]] = len(desc["partitions"])
    return out


def ensure_topics(settings: WorkerSettings, *, timeout: float = 30.0) -> list[str]:
    """Create missing topics, check existing ones; return the names created.

    :class:`TopicLayoutError` when a co-partitioned topic has the wrong partition count;
    :class:`StreamsError` when the broker cannot be reached or refuses.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    plan = topic_plan(settings)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap,
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=int(timeout * 1000),
        )
    except KafkaError as exc:
        raise StreamsError(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
    try:
        found = existing_partitions(admin, [s.name for s in plan])
        for spec in plan:
            have = found.get(spec.name)
            if have is None or have == spec.partitions:
                continue
            if spec.copartitioned:
                raise TopicLayoutError(spec.name, have, spec.partitions)
            if spec.name == settings.topics.events:
                log.warning(
                    "topic %s has %d partitions (worker uses %d): every event takes the "
                    "repartition hop to %s; give it %d partitions to enforce in place",
                    spec.name,
                    have,
                    spec.partitions,
                    settings.subjects_topic,
                    spec.partitions,
                )
                continue
            log.warning(
                "topic %s has %d partitions (worker uses %d); fine for a stateless topic",
                spec.name,
                have,
                spec.partitions,
            )
        missing = [s for s in plan if s.name not in found]
        if missing:
            new = [
                NewTopic(s.name, s.partitions, 1, topic_configs=dict(s.configs)) for s in missing
            ]
            try:
                admin.create_topics(new, raise_errors=False)
            except TopicAlreadyExistsError:
                pass  # another worker won the race; checked below
            except KafkaError as exc:
                raise StreamsError(f"cannot create topics: {exc}") from exc
            _wait_visible(admin, [s.name for s in missing], timeout)
        return [s.name for s in missing]
    finally:
        admin.close()


def _wait_visible(admin: Any, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = existing_partitions(admin, names)
        if len(found) == len(names):
            return
        if time.monotonic() > deadline:
            absent = sorted(set(names) - set(found))
            raise StreamsError(f"topics not visible after {timeout:.0f} s: {absent}")
        time.sleep(0.2)
