"""A Faust table of bytes on the memory store, read and written without the layers.

``table[key] = value`` in Faust goes through the mapping proxy, table sensors,
``Topic.send_soon``, a ``FutureMessage``, the producer buffer's background task and the
codecs, before the record reaches the producer: several times the cost of the send
itself, for every event. :class:`RawTable` does what that chain amounts to for a table
with raw bytes keys and values on ``memory://``: it sets the value in the store's dict
and sends the same record (same key and value bytes) to the table's changelog topic, on
the partition of the record being processed, as Faust does. Recovery is Faust's own,
unchanged: it rebuilds the store from the changelog at start and at rebalance.

Still at least once: the record goes to the same producer Faust flushes before every
offset commit, through ``Topology.send``, whose delivery guard refuses any commit once a
send failed (:mod:`privtrail.streams.delivery`). What is lost are the table get/set
counters of Faust's monitor (its web page), nothing the worker reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic

from privtrail.alerts import Alert
from privtrail.streams.ledger import Ledger, LedgerCache, S

Send = Callable[..., Awaitable[None]]


class RawTable:
    """``get``/``put``/``delete`` on a Faust ``Table`` (bytes -> bytes, ``store="memory://"``)."""

    __slots__ = ("table", "_send")

    def __init__(self, table: Any, send: Send) -> None:
        self.table = table
        self._send = send  # Topology.send: straight to the producer

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.table.data.data.get(key)
        return value

    async def put(self, key: bytes, value: bytes, partition: int) -> None:
        """Set ``key`` and record it in the changelog, on ``partition`` (co-partitioned
        with the source topic, as Faust writes it)."""
        self.table.data.data[key] = value
        await self._send(self.table.changelog_topic, key, value, partition=partition)

    async def delete(self, key: bytes, partition: int) -> None:
        """Remove ``key`` and record a tombstone (value None) in the changelog, on
        ``partition``: what Faust's ``del table[key]`` does; recovery applies it as a
        delete."""
        self.table.data.data.pop(key, None)
        await self._send(self.table.changelog_topic, key, None, partition=partition)


OnFlush = Callable[[bytes, "Ledger[Any]", int], Awaitable[None]]


class LedgerTable(Generic[S]):
    """A :class:`RawTable` of ledgers whose changelog records wait for the next commit.

    The write-behind cache of Kafka Streams' state stores, for the same reason: the
    subject and actor agents change a ledger with every event, and encoding the whole
    value and sending it to the changelog each time costs more than the rules (an
    actor's value holds its whole bulk-access window, a subject's its last operations).
    Here an event changes the ledger object in memory and marks the key dirty;
    :meth:`flush` encodes each dirty key once and sends one changelog record per key,
    however many events changed it since the last flush.

    Still at least once: the worker calls :meth:`flush` before every offset commit,
    after Faust chose the offsets to commit and before it flushes the producer
    (``FastDrainConsumer._handle_attached``), so every state change of a committed
    record is in the changelog, queued on the same producer and watched by the
    delivery guard, before its offset is. A crash loses only uncommitted work, which
    is replayed; the ledgers' memory of applied operations makes that harmless.
    """

    __slots__ = ("raw", "cache", "_on_flush", "_dirty", "_flushing")

    def __init__(
        self, raw: RawTable, cache: LedgerCache[S], on_flush: OnFlush | None = None
    ) -> None:
        self.raw = raw
        self.cache = cache
        self._on_flush = on_flush  # e.g. keep the deadline index in step with the state
        self._dirty: dict[bytes, tuple[int, Ledger[S]]] = {}
        self._flushing: dict[bytes, tuple[int, Ledger[S]]] = {}

    def ledger(self, key: bytes) -> Ledger[S]:
        """The current ledger of ``key`` (a fresh one if the table has none), to change in
        place and then pass to :meth:`changed`."""
        # Dirty ledgers first: the store still holds their last flushed bytes, and the
        # decoded cache may have evicted them.
        pending = self._dirty.get(key) or self._flushing.get(key)
        if pending is not None:
            return pending[1]
        return self.cache.get(key, self.raw.get(key))

    def known(self, key: bytes) -> bool:
        """Whether the table holds ``key``, flushed or not."""
        return key in self._dirty or key in self._flushing or self.raw.get(key) is not None

    def update(
        self,
        key: bytes,
        partition: int,
        run: Callable[..., tuple[list[Alert], bool]],
        *args: Any,
    ) -> list[Alert]:
        """``run(ledger, *args)``, one operation on ``key``'s ledger (a step's ``apply``
        or ``tick``), and unless it was a replay mark the ledger changed; the alerts to
        send."""
        ledger = self.ledger(key)
        alerts, replayed = run(ledger, *args)
        if not replayed:
            self.changed(key, ledger, partition)
        return alerts

    def changed(self, key: bytes, ledger: Ledger[S], partition: int) -> None:
        """``ledger`` (of ``key``, from a record of ``partition``) changed: write it at the
        next flush, on that partition of the changelog."""
        self._dirty[key] = (partition, ledger)

    @property
    def dirty(self) -> int:
        """Keys changed since the last flush."""
        return len(self._dirty)

    async def flush(self) -> int:
        """Encode each dirty ledger and send its changelog record; the number sent."""
        batch = self._dirty
        if not batch:
            return 0
        self._dirty = {}
        # While the sends below wait, the agents may change these ledgers again: they
        # find them in ``_flushing`` and mark them dirty anew, so the newer state is
        # written by the next flush (and may already be by this one).
        self._flushing = batch
        try:
            for key, (partition, ledger) in batch.items():
                value = ledger.to_bytes()
                self.cache.put(key, value, ledger)
                await self.raw.put(key, value, partition)
                if self._on_flush is not None:
                    await self._on_flush(key, ledger, partition)
        except BaseException:
            # Not sent: keep them dirty (unless changed since), so nothing is dropped.
            for key, entry in batch.items():
                self._dirty.setdefault(key, entry)
            raise
        finally:
            self._flushing = {}
        return len(batch)
