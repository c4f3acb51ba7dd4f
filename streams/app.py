"""The Faust app: topics, tables and agents of the worker, built from :class:`WorkerSettings`.

Topology (names are the defaults)::

    privacy.events --validate--> privacy.events.valid (keyed by subject: the history's input)
          |          + judge in place [subjects table] --> privacy.alerts --notify--> webhooks, log
          |            |
          |            +--> <app>-subject-events --enforce--> [subjects table] --> privacy.alerts
          |            |    (only events off their subject's partition)
          |            +--> <app>-actors --actors--> [actors table] --> privacy.alerts
          +--> privacy.events.dlq (original bytes, reason in headers)
    timer --reads--> [deadline index] --> <app>-deadline-ticks --deadlines--> [subjects]
                                                                      --> privacy.alerts

Processing guarantee: at least once, with replays made harmless by the per-key ledgers
(:mod:`privtrail.streams.ledger`) and deterministic alert ids; docs/streams.md says why
Faust's exactly-once mode is not used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faust

from privtrail.engine import ActorState, SubjectState
from privtrail.policy import Policy, default_policy, load_policy
from privtrail.sdk.partitioner import KeyHashes
from privtrail.streams import actors, consumer, deadlines, enforce, notify, validate
from privtrail.streams.actors import ActorStep
from privtrail.streams.codecs import EventDecoder
from privtrail.streams.deadlines import Clock, index_value
from privtrail.streams.delivery import DeliveryGuard, UndeliveredOutput
from privtrail.streams.enforce import SubjectStep
from privtrail.streams.ledger import Ledger
from privtrail.streams.notify import WebhookNotifier
from privtrail.streams.partitioner import CachedPartitioner
from privtrail.streams.queues import LowWaterQueue
from privtrail.streams.schema import RawSchema
from privtrail.streams.sensors import LeanSensorDelegate
from privtrail.streams.settings import WorkerSettings
from privtrail.streams.tables import LedgerTable, RawTable


@dataclass(slots=True, eq=False)
class Topology:
    """Everything the agents share. Built by :func:`build_app`; one per app."""

    app: WorkerApp
    settings: WorkerSettings
    policy: Policy
    clock: Clock
    events: Any  # faust.TopicT; Faust's generics add nothing here
    valid: Any
    dlq: Any
    alerts: Any
    subject_events: Any  # valid events re-keyed by subject, when not enforced in place
    actor_events: Any
    ticks: Any
    subjects: Any  # faust Table: subject pseudonym (bytes) -> ledger (bytes)
    actors: Any  # faust Table: actor id (bytes) -> ledger (bytes)
    deadline_index: Any  # faust Table: subject (bytes) -> [due epoch s, partition]
    subject_step: SubjectStep
    actor_step: ActorStep
    decoder: EventDecoder
    notifier: WebhookNotifier | None = None
    # The agents' fast path to ``subjects`` and ``actors``: ledgers changed in memory,
    # written to the changelogs before each commit (see privtrail.streams.tables).
    subject_table: LedgerTable[SubjectState] = field(init=False)
    actor_table: LedgerTable[ActorState] = field(init=False)
    index_table: RawTable = field(init=False)
    delivery: DeliveryGuard = field(init=False)

    def __post_init__(self) -> None:
        self.delivery = self.app.delivery
        self.subject_table = LedgerTable(
            RawTable(self.subjects, self.send), self.subject_step.cache, self._index_subject
        )
        self.actor_table = LedgerTable(RawTable(self.actors, self.send), self.actor_step.cache)
        self.index_table = RawTable(self.deadline_index, self.send)
        self.app.before_commit_hooks.append(self.flush_tables)

    def in_place(self, key: bytes, topic: str, partition: int) -> bool:
        """Whether a record of ``topic`` on ``partition`` keyed ``key`` may change the
        table entry ``key`` here, without the repartition hop.

        Yes when ``topic`` has the tables' partition count (Faust's assignor then gives
        this worker partition ``p`` of the topic, of the co-partitioned topics and of
        the changelogs together) and ``p`` is where Kafka's default partitioner puts
        ``key``: where the repartition hop would bring it. The SDK keys events by
        subject, so on a topic laid out like the tables every one of its events is.
        """
        n = self.settings.partitions
        if self.app.key_hashes(key) % n != partition:
            return False
        count: int | None = self.app.consumer.topic_partitions(topic)
        return count == n

    async def flush_tables(self) -> int:
        """Send the changelog records of every ledger changed since the last flush."""
        return await self.subject_table.flush() + await self.actor_table.flush()

    async def _index_subject(
        self, key: bytes, ledger: Ledger[SubjectState], partition: int
    ) -> None:
        await self.index_deadline(key, ledger.state.next_due(), partition)

    async def send(
        self,
        topic: Any,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue a record on the producer without waiting for the broker.

        Straight to Faust's producer: ``Topic.send`` adds codecs, sensors and a
        FutureMessage per record, and an event costs two to four sends. At least once:
        Faust flushes this producer before it commits any offset, and the delivery
        guard (:mod:`privtrail.streams.delivery`) sees every send that fails, now or
        after aiokafka's retries, and stops the worker before an offset is committed
        past the record that made it.
        """
        name = topic.get_topic_name()
        try:
            future: Any = await self.app.producer.send(name, key, value, partition, None, headers)
        except Exception as exc:  # refused before queueing (no metadata in time, too big)
            self.delivery.fail(name, exc)
            raise
        self.delivery.watch(future, name)

    async def index_deadline(self, key: bytes, due: datetime | None, partition: int) -> None:
        """Keep the deadline index in step with a subject's earliest deadline.

        Runs when a subject's ledger is flushed (``partition`` is the one of the record
        that last changed it), and for a tick of an unknown subject; it writes only when
        the entry changes, so most flushes cost one lookup. Writes go through
        :class:`RawTable` like the other tables', so their changelog records are
        watched by the delivery guard and queued on the producer before the record's
        offset can be committed (Faust's ``table[key] = value`` goes through a buffer
        that the flush before a commit does not always empty).
        """
        current = self.index_table.get(key)
        if due is None:
            if current is not None:
                await self.index_table.delete(key, partition)
            return
        value = index_value(due, partition)
        if current != value:
            await self.index_table.put(key, value, partition)

    def active_partitions(self, topic: str) -> set[int] | None:
        """Partitions of ``topic`` this worker owns now (None if unknown yet)."""
        try:
            actives = self.app.assignor.assigned_actives()
        except Exception:  # before the first assignment Faust has nothing to say
            return None
        return {tp.partition for tp in actives if tp.topic == topic}


def _raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    return app.topic(name, schema=RawSchema(), partitions=partitions)


class WorkerApp(faust.App):
    """``faust.App`` with the worker's delivery guard, whose stream buffers are
    :class:`LowWaterQueue` (one wait per half buffer under a backlog, not one per
    record)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # murmur2 of recent keys, for the producer's partitioner (aiokafka's answers) and
        # Topology.in_place
        self.key_hashes = KeyHashes()
        kwargs.setdefault("producer_partitioner", CachedPartitioner(self.key_hashes))
        super().__init__(*args, **kwargs)
        self.delivery = DeliveryGuard(on_failure=self._crash_uncommitted)
        # the delivery guard's hook, and no monitor bookkeeping per record
        self.sensors = LeanSensorDelegate(self, self.delivery)
        self._crashing: asyncio.Future[None] | None = None
        # How long a fetch may wait at the broker (privtrail.streams.consumer.ShortPollThread)
        self.fetch_max_wait: float | None = None
        # Run before every offset commit, ahead of Faust's producer flush
        # (privtrail.streams.consumer.FastDrainConsumer._handle_attached).
        self.before_commit_hooks: list[Callable[[], Awaitable[Any]]] = []

    async def before_commit(self) -> None:
        for hook in self.before_commit_hooks:
            await hook()

    def _crash_uncommitted(self, error: UndeliveredOutput) -> None:
        # Crash, not stop: mode's Worker then stops everything and exits non-zero with
        # this error, for a supervisor to restart. The commits of the shutdown are
        # refused by the guard (privtrail.streams.consumer).
        if self._crashing is None:
            self._crashing = asyncio.ensure_future(self.crash(error))

    async def _on_partitions_revoked(self, revoked: Any) -> None:
        await super()._on_partitions_revoked(revoked)
        # The rebalance's commit flushed the write-behind tables already, unless it had
        # no offset to commit; then what is still dirty belongs to records not
        # committed, which the next owner replays. Writing it anyway keeps the changelog
        # and this worker's memory alike (replays are harmless).
        if not self.should_stop and self.before_commit_hooks:
            await self.before_commit()
            await self.producer.flush()

    def FlowControlQueue(  # noqa: N802  # Faust's name
        self, maxsize: int | None = None, *, clear_on_resume: bool = False
    ) -> LowWaterQueue:
        return LowWaterQueue(
            maxsize=maxsize, flow_control=self.flow_control, clear_on_resume=clear_on_resume
        )


def faust_app(settings: WorkerSettings) -> WorkerApp:
    """The bare ``faust.App`` with the worker's configuration and no agents."""
    brokers = [f"kafka://{host.strip()}" for host in settings.bootstrap.split(",")]
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    app = WorkerApp(
        settings.app_id,
        broker=brokers,
        store="memory://",  # state is rebuilt from the changelog at start; no RocksDB
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        datadir=str(data_dir),
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        broker_rebalance_timeout=max(20.0, settings.session_timeout * 2),
        # Batch sends a little: an event costs two to four sends (forward, changelog,
        # index, alert); 5 ms of linger turns thousands of socket writes into dozens.
        producer_linger=0.005,
        producer_max_batch_size=262_144,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.resolved_web_port(),
        web_in_thread=False,
        # Not cython_optimizations=True: in faust-streaming 0.15 it only adds a quick get
        # to the stream iterator and event reuse across channels; no measurable change
        # here (docs/streams.md, Performance), and it is marked as not run in production.
    )
    app.fetch_max_wait = settings.fetch_max_wait  # read by the consumer it creates
    consumer.install(app)  # hands records to the streams without four tasks per record
    return app


def build_app(
    settings: WorkerSettings, *, policy: Policy | None = None, clock: Clock | None = None
) -> Topology:
    """A Faust app with every topic, table and agent of the worker registered."""
    if policy is None:
        policy = load_policy(settings.policy_path) if settings.policy_path else default_policy()
    app = faust_app(settings)
    n, names = settings.partitions, settings.topics

    def table(name: str) -> Any:
        # bytes key/value types make Faust use the raw codec: the values are our JSON.
        return app.Table(name, partitions=n, key_type=bytes, value_type=bytes, default=None)

    topo = Topology(
        app=app,
        settings=settings,
        policy=policy,
        clock=clock or Clock(settings.clock_offset, settings.deadline_lateness),
        events=_raw_topic(app, names.events, n),
        valid=_raw_topic(app, names.valid, n),
        dlq=_raw_topic(app, names.dlq, n),
        alerts=_raw_topic(app, names.alerts, n),
        subject_events=_raw_topic(app, settings.subjects_topic, n),
        actor_events=_raw_topic(app, settings.actors_topic, n),
        ticks=_raw_topic(app, settings.ticks_topic, n),
        subjects=table("subjects"),
        actors=table("actors"),
        deadline_index=table("deadline-index"),
        subject_step=SubjectStep(policy),
        actor_step=ActorStep(policy),
        decoder=EventDecoder(),
    )
    validate.register(topo)
    enforce.register(topo)
    actors.register(topo)
    deadlines.register(topo)
    notify.register(topo)
    return topo
