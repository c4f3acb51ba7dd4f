"""The sink's access to ClickHouse: idempotent inserts, and the state it resumes from.

ClickHouse, not the sink's memory, is the source of truth: on partition assignment the sink
asks :meth:`HistoryStore.partition_log` for the Merkle tree and the last stored offset of that
partition, so a redelivered record is skipped and every new record gets the next leaf index,
however the previous owner died.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from privtrail.errors import PrivtrailError
from privtrail.sinks.compact import CompactRange
from privtrail.sinks.migrate import DATABASE
from privtrail.sinks.rows import ALERT_COLUMNS, EVENT_COLUMNS
from privtrail.tlog import MerkleTree

EVENTS = f"{DATABASE}.events"
ALERTS = f"{DATABASE}.alerts"
CHECKPOINTS = f"{DATABASE}.checkpoints"
CHECKPOINT_COLUMNS = (
    "origin", "log_topic", "log_partition", "tree_size", "root_hash", "note", "created_at",
)  # fmt: skip
_HASH_CHUNK = 1 << 16


class HistoryError(PrivtrailError):
    """The stored history of a partition is not a gap-free log; the sink refuses to append."""


_ALERT_ID = ALERT_COLUMNS.index("alert_id")
_RULE = ALERT_COLUMNS.index("rule")
_OCCURRED = ALERT_COLUMNS.index("occurred_at")


def iter_records(
    client: Any,
    query: str,
    params: dict[str, Any],
    fmt: str,
    settings: dict[str, Any] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Stream fixed-size RowBinary rows of ``query`` unpacked with ``struct`` format ``fmt``.

    Far cheaper than building dicts or Python rows per value: the server sends packed bytes,
    ``struct.iter_unpack`` turns whole chunks into tuples.
    """
    size = struct.calcsize(fmt)
    rest = b""
    stream = client.raw_stream(query, parameters=params, settings=settings, fmt="RowBinary")
    try:
        for chunk in stream:
            buf = rest + bytes(chunk) if rest else bytes(chunk)
            cut = len(buf) - len(buf) % size
            yield from struct.iter_unpack(fmt, buf[:cut])
            rest = buf[cut:]
    finally:
        stream.close()
    if rest:
        raise HistoryError(f"truncated result: {len(rest)} bytes left over")


@dataclass(frozen=True, slots=True)
class PartitionLog:
    """What ClickHouse holds for one partition of the valid-events topic."""

    tree: MerkleTree
    last_offset: int | None


class HistoryStore:
    """Reads and idempotent writes of the ``privtrail`` tables, as the ``writer`` user."""

    def __init__(self, client: Any) -> None:
        self.client = client

    # -- state to resume from -----------------------------------------------------------

    def partition_log(self, topic: str, partition: int) -> PartitionLog:
        """The partition's Merkle tree rebuilt from stored leaf hashes, and its last offset."""
        params = {"t": topic, "p": partition}
        where = "log_topic = {t:String} AND log_partition = {p:UInt32}"
        rows, distinct, top, last = self.client.query(
            f"SELECT count(), uniqExact(leaf_index), max(leaf_index), max(kafka_offset) "
            f"FROM {EVENTS} WHERE {where}",
            parameters=params,
        ).result_rows[0]
        if rows == 0:
            return PartitionLog(MerkleTree(), None)
        if distinct != rows or top + 1 != rows:
            raise HistoryError(
                f"{topic}[{partition}]: {rows} rows but leaf indexes {distinct} distinct, "
                f"max {top}; the history was altered; run 'privtrail verify' before appending"
            )
        compact = CompactRange()
        chunk: list[bytes] = []
        query = f"SELECT leaf_hash FROM {EVENTS} WHERE {where} ORDER BY leaf_index"
        for (leaf,) in iter_records(self.client, query, params, "<32s"):
            chunk.append(leaf)
            if len(chunk) == _HASH_CHUNK:
                compact.extend(chunk)
                chunk = []
        compact.extend(chunk)
        return PartitionLog(compact.to_tree(), int(last))

    def recent_event_ids(self, topic: str, partition: int, limit: int) -> list[str]:
        """Ids of the partition's last ``limit`` leaves, oldest first (seeds the dedup window)."""
        rows = self.client.query(
            f"SELECT event_id FROM {EVENTS} "
            "WHERE log_topic = {t:String} AND log_partition = {p:UInt32} "
            "ORDER BY leaf_index DESC LIMIT {n:UInt64}",
            parameters={"t": topic, "p": partition, "n": limit},
        ).result_rows
        return [r[0] for r in reversed(rows)]

    def last_alert_offset(self, topic: str, partition: int) -> int | None:
        count, last = self.client.query(
            f"SELECT count(), max(kafka_offset) FROM {ALERTS} "
            "WHERE kafka_topic = {t:String} AND kafka_partition = {p:UInt32}",
            parameters={"t": topic, "p": partition},
        ).result_rows[0]
        return int(last) if count else None

    # -- idempotent inserts -------------------------------------------------------------

    def _insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], token: str
    ) -> None:
        # The token makes a retried insert (an ack lost in an outage, a redelivered batch)
        # a no-op: the table's non_replicated_deduplication_window remembers recent tokens.
        # Column-oriented: the driver serialises a column at a time, about twice as fast as
        # rows for our 38 columns; the transpose itself is one C-level zip.
        self.client.insert(
            table,
            list(zip(*rows, strict=True)),
            column_names=list(columns),
            column_oriented=True,
            settings={"insert_deduplicate": 1, "insert_deduplication_token": token},
        )

    def insert_events(self, rows: Sequence[Sequence[Any]], token: str) -> None:
        self._insert(EVENTS, EVENT_COLUMNS, rows, token)

    def insert_alerts(self, rows: Sequence[Sequence[Any]], token: str) -> None:
        # The worker is at-least-once: after a crash it re-raises alerts with the same
        # alert_id. Alerts are keyed by subject, so one alert always lands on one partition
        # of the alerts topic and one sink owns it: checking what is stored is exact.
        fresh = self.new_alerts(rows)
        if fresh:
            self._insert(ALERTS, ALERT_COLUMNS, fresh, token)

    def new_alerts(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """``rows`` without alerts already stored or repeated in the batch (by alert_id)."""
        if not rows:
            return []
        rules = sorted({r[_RULE] for r in rows})
        stored = {
            row[0]
            for row in self.client.query(
                f"SELECT alert_id FROM {ALERTS} WHERE rule IN {{rules:Array(String)}} "
                "AND occurred_at BETWEEN {lo:DateTime64(6, 'UTC')} AND {hi:DateTime64(6, 'UTC')} "
                "AND alert_id IN {ids:Array(String)}",
                parameters={
                    "rules": rules,
                    "lo": min(r[_OCCURRED] for r in rows),
                    "hi": max(r[_OCCURRED] for r in rows),
                    "ids": [r[_ALERT_ID] for r in rows],
                },
            ).result_rows
        }
        fresh: list[Sequence[Any]] = []
        for row in rows:
            if row[_ALERT_ID] not in stored:
                stored.add(row[_ALERT_ID])
                fresh.append(row)
        return fresh

    def insert_checkpoint(self, row: list[Any]) -> None:
        origin, size, note = row[0], row[3], row[5]
        # A signature is deterministic (Ed25519), so a retry is the same row: dedupe it.
        token = f"checkpoint/{origin}/{size}/{hashlib.sha256(note.encode()).hexdigest()[:16]}"
        self._insert(CHECKPOINTS, CHECKPOINT_COLUMNS, [row], token)

    def latest_checkpoint_size(self, topic: str, partition: int) -> int | None:
        count, top = self.client.query(
            f"SELECT count(), max(tree_size) FROM {CHECKPOINTS} "
            "WHERE log_topic = {t:String} AND log_partition = {p:UInt32}",
            parameters={"t": topic, "p": partition},
        ).result_rows[0]
        return int(top) if count else None
