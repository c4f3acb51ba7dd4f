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
from typing import Any

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
