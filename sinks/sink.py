"""The sink: Kafka (valid events, alerts) -> ClickHouse, exactly once in effect.

The consumer is aiokafka's (kafka-python 3.0 intermittently never completed a group
rejoin here); the blocking ClickHouse calls run in a worker thread so heartbeats go on.
One loop:

1. On assignment a partition is *unloaded*: it stays paused until its state (Merkle tree,
   last stored offset) has been read back from ClickHouse; then the consumer seeks past what
   ClickHouse already holds, so records stored before a crash are not appended twice.
2. Records become rows; each event gets the next leaf index of its partition's tree. Events
   are decoded without re-validation, straight from the Avro record to the canonical JSON
   and typed values (``sinks/fastrow.py``): the stream worker only forwards validated bytes
   to the valid-events topic. Alerts are decoded in full.
3. A batch (size or age) is inserted with a deduplication token naming its offset range;
   offsets are committed only after ClickHouse acknowledged every insert. The insert runs in
   the background while the loop fetches and decodes the next batch (one at a time).
4. Any ClickHouse failure pauses every partition and retries the same batches, unchanged,
   with exponential backoff; consumption resumes once they are in. Nothing is dropped.
5. After a flush, at least every ``checkpoint_interval`` and at shutdown, each grown tree
   gets a signed checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from privtrail.errors import PrivtrailError
from privtrail.sinks.avroread import read_event_record
from privtrail.sinks.batching import Batch, Batcher
from privtrail.sinks.checkpointer import Checkpointer
from privtrail.sinks.dedup import RecentIds
from privtrail.sinks.fastrow import SUPPORTED, record_row
from privtrail.sinks.metrics import SinkMetrics
from privtrail.sinks.rows import alert_row, event_row
from privtrail.sinks.settings import SinkSettings
from privtrail.sinks.store import HistoryStore
from privtrail.tlog import MerkleTree, NoteSigner, leaf_hash
from privtrail.wire import decode_alert, decode_event_trusted

log = logging.getLogger(__name__)

# ClickHouse errors worth waiting out (server busy or restarting); anything else is a bug or
# a misconfiguration and stops the sink rather than retrying forever.
_RETRYABLE_CODES = {159, 164, 202, 209, 210, 241, 242, 252, 425}
_LAG_EVERY = 2.0
_MAX_RECORDS = 5_000  # per turn of the loop: keeps each turn short, so heartbeats keep up


class SinkError(PrivtrailError):
    """The sink cannot continue (undecodable record, non-retryable ClickHouse error)."""


def _retryable(exc: BaseException) -> bool:
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    if isinstance(exc, OperationalError | ConnectionError | TimeoutError | OSError):
        return True
    if isinstance(exc, DatabaseError):
        return getattr(exc, "code", None) in _RETRYABLE_CODES
    return False


class _Partition:
    """What the sink knows about one assigned partition."""

    __slots__ = ("landed", "last_offset", "loaded", "recent", "tree")

    def __init__(self) -> None:
        self.loaded = False
        self.tree: MerkleTree | None = None  # events partitions only
        self.recent: RecentIds | None = None  # events partitions only: the dedup window
        self.last_offset: int | None = None  # last offset stored in ClickHouse or buffered
        self.landed = 0  # next offset not yet acknowledged by ClickHouse (for the lag metric)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.sink._revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.sink._assigned(list(assigned))


class Sink:
    """Run with :meth:`run`; stop by setting the ``stop`` event it was given."""

    def __init__(
        self,
        settings: SinkSettings,
        store: HistoryStore,
        signer: NoteSigner,
        metrics: SinkMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics or SinkMetrics()
        self.topics = (settings.topics.valid, settings.topics.alerts)
        self.consumer: Any = None  # an AIOKafkaConsumer, created inside the event loop
        # Never fetch more per turn than one batch holds, so batches stay within their bound.
        self._max_records = max(1, min(_MAX_RECORDS, settings.batch_max_rows))
        self.batcher = Batcher(settings.batch_max_rows, settings.batch_max_seconds)
        self.checkpointer = Checkpointer(
            store, signer, settings.origin, settings.checkpoint_interval
        )
        self._parts: dict[TopicPartition, _Partition] = {}
        self._pending: list[Batch] = []  # drained from the batcher, not yet acknowledged
        self._outage_until = 0.0
        self._down = False
        self._commits: dict[TopicPartition, int] = {}
        # The rebalance listener runs in aiokafka's coordinator task and may interleave with
        # the loop at any await: one lock makes settle/checkpoint/load run one at a time
        # (and keeps the single ClickHouse session from seeing concurrent queries).
        self._lock = asyncio.Lock()
        self._backoff = settings.backoff_initial
        self._inserts = 0
        self._crash_after = self._parse_crash_point(settings.crash_point)
        self._next_lag = 0.0
        # The settle of the last drained batches, running while the loop consumes and decodes
        # the next ones (at most one at a time; see step).
        self._flush: asyncio.Task[bool] | None = None

    def _make_consumer(self) -> AIOKafkaConsumer:
        settings = self.settings
        return AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            # Decoding is CPU-bound on the event loop; on a busy machine a long turn must not
            # cost the group membership.
            session_timeout_ms=30_000,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            client_id=f"{settings.group_id}-{os.getpid()}",
            # A group joined before a topic's metadata was visible gets no partitions until
            # the next metadata refresh (default 5 minutes); added partitions likewise.
            metadata_max_age_ms=10_000,
        )

    @staticmethod
    def _parse_crash_point(spec: str) -> int | None:
        if not spec:
            return None
        name, _, count = spec.partition(":")
        if name != "after_insert" or not count.isdigit():
            raise SinkError(f"PRIVTRAIL_SINK_CRASH_POINT must be after_insert:N, got {spec!r}")
        return int(count)

    # -- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then flush and checkpoint (blocking)."""
        asyncio.run(self._run(stop))

    async def _run(self, stop: threading.Event) -> None:
        self.consumer = self._make_consumer()
        await self.consumer.start()
        try:
            await self._await_topics(stop)
            self.consumer.subscribe(list(self.topics), listener=_Listener(self))
            while not stop.is_set():
                await self.step()
            await self.shutdown()
        finally:
            await self.consumer.stop()

    async def _await_topics(self, stop: threading.Event, timeout: float = 60.0) -> None:
        """Wait until the consumer's metadata knows both topics before joining the group, so
        the first assignment is complete (a late topic would mean an immediate rebalance)."""
        deadline = time.monotonic() + timeout
        missing = list(self.topics)
        while not stop.is_set():
            known = await self.consumer.topics()  # refreshes the cluster metadata
            missing = [t for t in missing if t not in known]
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise SinkError(f"topic(s) {', '.join(missing)} not found in Kafka")
            await asyncio.sleep(0.2)

    async def step(self) -> None:
        """One turn: retry/insert what is pending, poll, buffer, flush and checkpoint if due.

        A due batch is inserted in the background (a task running :meth:`_settle`) while the
        next turns fetch and decode: the ClickHouse server parses and merges on another core
        meanwhile. Its offsets are still committed only after ClickHouse acknowledged it, by
        the same :meth:`_settle`; the next batch waits for it, and so does every checkpoint.
        """
        now = time.monotonic()
        if now >= self._next_lag:  # also during an outage: that is when lag matters
            self._next_lag = now + _LAG_EVERY
            await self._update_lag()
        if self._flush is not None and self._flush.done():
            await self._await_flush()  # a fatal error surfaces here; a retryable one paused us
        if self._outage_until > now:
            # Paused partitions return nothing; waiting here keeps the group membership alive.
            await asyncio.sleep(min(self._outage_until - now, 0.5))
            return
        if self._flush is None and not await self._try(self._settle):
            return
        timeout = max(0.0, min(self.settings.batch_max_seconds, 0.2))
        records = await self.consumer.getmany(
            timeout_ms=int(timeout * 1000), max_records=self._max_records
        )
        for tp, messages in records.items():
            self._ingest(tp, messages)
        if self.batcher.due():
            if not await self._await_flush():
                return
            self._pending.extend(self.batcher.drain())
            self._flush = asyncio.create_task(self._try(self._settle))
        if self.checkpointer.due():
            # A checkpoint covers only acknowledged leaves: land everything first.
            if not await self._await_flush():
                return
            self._pending.extend(self.batcher.drain())
            if await self._try(self._settle):
                await self._try(self._checkpoint)

    async def _await_flush(self) -> bool:
        """Wait for the background settle, if any; False if it failed (we are paused)."""
        flush, self._flush = self._flush, None
        return True if flush is None else await flush

    async def shutdown(self) -> None:
        """Flush and checkpoint once more; whatever fails stays uncommitted (re-read later)."""
        await self._await_flush()
        self._pending.extend(self.batcher.drain())
        if await self._try(self._settle):
            await self._try(self._checkpoint)

    # -- outage handling ----------------------------------------------------------------

    async def _try(self, action: Any) -> bool:
        """Run ``action``; on a retryable ClickHouse failure pause and schedule a retry."""
        try:
            async with self._lock:
                await action()
        except Exception as exc:
            if not _retryable(exc):
                raise
            self._down = True
            self.metrics.clickhouse_up.set(0)
            self.metrics.insert_failures.inc()
            log.warning("ClickHouse unavailable (%s); pausing, retry in %.1fs",
                        type(exc).__name__, self._backoff)  # fmt: skip
            self.consumer.pause(*(self._parts.keys() & self.consumer.assignment()))
            self._outage_until = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self.settings.backoff_max)
            return False
        if self._down:  # recovered: resume consumption
            log.info("ClickHouse is back; resuming")
            self._down = False
            owned = self.consumer.assignment()
            self.consumer.resume(*[tp for tp, p in self._parts.items() if p.loaded and tp in owned])
        self.metrics.clickhouse_up.set(1)
        self._backoff = self.settings.backoff_initial
        return True

    async def _settle(self) -> None:
        """Load unloaded partitions, then insert pending batches and commit their offsets."""
        for tp, part in list(self._parts.items()):
            if not part.loaded:
                await self._load(tp, part)
        while self._pending:
            batch = self._pending[0]
            tp = TopicPartition(batch.topic, batch.partition)
            owner = self._parts.get(tp)
            if owner is not None:  # a revoked partition's rows are the new owner's to write
                await self._insert(batch)
                self._commits[tp] = batch.last_offset + 1
                owner.landed = batch.last_offset + 1
            self._pending.pop(0)
        if not self._commits:
            return
        if self._crash_after is not None and self._inserts >= self._crash_after:
            # Test harness only: die between the acknowledged insert and the offset commit.
            os.kill(os.getpid(), signal.SIGKILL)
        commits, self._commits = self._commits, {}
        try:
            await self.consumer.commit(commits)
        except KafkaError as exc:
            # Harmless for correctness: on reassignment the next owner starts after what
            # ClickHouse holds, whatever the committed offset says.
            log.warning("offset commit failed (%s); ClickHouse state decides on restart", exc)

    async def _insert(self, batch: Batch) -> None:
        started = time.perf_counter()
        # ClickHouse calls run in a worker thread so a slow server never starves the
        # consumer's heartbeats (the event loop keeps running while we wait).
        if batch.topic == self.settings.topics.valid:
            await asyncio.to_thread(self.store.insert_events, batch.rows, batch.token)
            table = "events"
        else:
            await asyncio.to_thread(self.store.insert_alerts, batch.rows, batch.token)
            table = "alerts"
        self.metrics.insert_seconds.observe(time.perf_counter() - started)
        self.metrics.rows.labels(table).inc(len(batch.rows))
        self._inserts += 1

    async def _checkpoint(self) -> None:
        trees = {
            (tp.topic, tp.partition): p.tree
            for tp, p in self._parts.items()
            if p.loaded and p.tree is not None
        }
        written = await asyncio.to_thread(self.checkpointer.write, trees)
        self.metrics.checkpoints.inc(len(written))

    # -- partitions ---------------------------------------------------------------------

    def _assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            self._parts[tp] = _Partition()
        if assigned:
            self.consumer.pause(*assigned)  # until _load has read their state

    async def _revoked(self, revoked: list[TopicPartition]) -> None:
        # Unloaded partitions are just dropped (nothing was read for them yet).
        async with self._lock:  # after any settle in progress
            for tp in revoked:
                part = self._parts.get(tp)
                if part is not None and not part.loaded:
                    del self._parts[tp]
        # Land what we hold for the others; if ClickHouse is down, the new owner re-reads.
        self._pending.extend(self.batcher.drain())
        if self._outage_until <= time.monotonic() and await self._try(self._settle):
            await self._try(self._checkpoint)
        async with self._lock:
            for tp in revoked:
                self._parts.pop(tp, None)
                self.batcher.drop(tp.topic, tp.partition)
                self.checkpointer.forget((tp.topic, tp.partition))
            self._pending = [
                b for b in self._pending if TopicPartition(b.topic, b.partition) not in revoked
            ]

    async def _load(self, tp: TopicPartition, part: _Partition) -> None:
        if tp.topic == self.settings.topics.valid:
            state = await asyncio.to_thread(self.store.partition_log, tp.topic, tp.partition)
            part.tree, part.last_offset = state.tree, state.last_offset
            window = self.settings.dedup_window
            part.recent = RecentIds(
                window,
                await asyncio.to_thread(
                    self.store.recent_event_ids, tp.topic, tp.partition, window
                ),
            )
            size = await asyncio.to_thread(
                self.store.latest_checkpoint_size, tp.topic, tp.partition
            )
            self.checkpointer.known((tp.topic, tp.partition), size)
            self.metrics.tree_size.labels(tp.topic, str(tp.partition)).set(state.tree.size)
        else:
            part.last_offset = await asyncio.to_thread(
                self.store.last_alert_offset, tp.topic, tp.partition
            )
        if tp not in self.consumer.assignment():
            return  # not (or no longer) assigned: stays unloaded; a revoke drops it
        if part.last_offset is not None:
            # Start after what ClickHouse holds, even if the commit for it never happened.
            committed = await self.consumer.committed(tp)
            if committed is None or committed <= part.last_offset:
                self.consumer.seek(tp, part.last_offset + 1)
        part.landed = 0 if part.last_offset is None else part.last_offset + 1
        part.loaded = True
        self.consumer.resume(tp)

    # -- records -> rows ----------------------------------------------------------------

    def _ingest(self, tp: TopicPartition, messages: list[Any]) -> None:
        part = self._parts.get(tp)
        if part is None or not part.loaded:
            # Fetched before the partition's state was read: rewind, so that these records
            # are fetched again once it is (dropping them would advance past them).
            if messages and tp in self.consumer.assignment():
                self.consumer.seek(tp, messages[0].offset)
            return
        now = datetime.now(UTC)
        is_event = tp.topic == self.settings.topics.valid
        row: Sequence[Any] | None
        for msg in messages:
            if part.last_offset is not None and msg.offset <= part.last_offset:
                self.metrics.skipped.inc()
                continue
            try:
                if is_event:
                    row = self._event_row(tp, part, msg, now)
                    if row is None:
                        # A re-forwarded copy: not a leaf, but its offset is passed.
                        self.metrics.duplicates.inc()
                        part.last_offset = msg.offset
                        continue
                else:
                    alert = decode_alert(msg.value)
                    raised = datetime.fromtimestamp(msg.timestamp / 1000, UTC)
                    row = alert_row(
                        alert, topic=tp.topic, partition=tp.partition, offset=msg.offset,
                        raised_at=raised, ingested_at=now,
                    )  # fmt: skip
            except PrivtrailError as exc:
                # The valid topic carries validated events only: a record that does not decode
                # is an upstream bug. Stop loudly rather than leave a silent hole in the log.
                raise SinkError(
                    f"{tp.topic}[{tp.partition}] offset {msg.offset} does not decode: {exc}"
                ) from exc
            self.batcher.add(tp.topic, tp.partition, msg.offset, row)
            part.last_offset = msg.offset

    def _event_row(
        self, tp: TopicPartition, part: _Partition, msg: Any, now: datetime
    ) -> tuple[Any, ...] | None:
        """The row for one valid event, or ``None`` for a copy of an event already logged."""
        tree, recent = part.tree, part.recent
        if tree is None or recent is None:
            raise SinkError(f"{tp.topic}[{tp.partition}] has no Merkle tree loaded")
        # The stream worker forwards to this topic only the bytes decode_event accepted, so
        # validating again is wasted work. The Avro record (read by a decoder generated for
        # the current schema, sinks/avroread.py: the same record or WireError as fastavro)
        # goes straight to the canonical JSON and typed values (sinks/fastrow.py): the same
        # bytes and values as decode_event_trusted + event_row, without building a model and
        # dumping it again.
        if SUPPORTED:
            event_id, text, values = record_row(read_event_record(msg.value))
        else:  # pragma: no cover - a schema fastrow cannot compile: the reference path
            ref = event_row(decode_event_trusted(msg.value))
            event_id, text, values = ref.event_id, ref.canonical.decode(), tuple(ref.values)
        if event_id in recent:
            return None
        recent.add(event_id)
        digest = leaf_hash(text.encode())
        index = tree.append(digest)
        # The remaining EVENT_COLUMNS, in order. A tuple of atoms, so the collector untracks
        # it at its first pass instead of traversing every buffered row again and again
        # (see sinks/fastrow.py).
        return (*values, text, tp.topic, tp.partition, index, digest, msg.offset, now)

    async def _update_lag(self) -> None:
        owned = [tp for tp, p in self._parts.items() if p.loaded]
        if not owned:
            return
        try:
            ends = await self.consumer.end_offsets(owned)
        except Exception:  # lag is best effort; never let it stop ingestion
            log.debug("end_offsets failed", exc_info=True)
            return
        for tp in owned:
            landed = self._parts[tp].landed
            lag = max(0, ends.get(tp, landed) - landed)
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
