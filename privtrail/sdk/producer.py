"""The kafka-python producer as the SDK uses it, and the broker's state as the SDK sees it.

kafka-python retries inside the producer and only reports failure after
``delivery_timeout_ms``; the SDK needs to know much sooner that the broker is gone, so it
tracks progress instead: while sends are outstanding and no acknowledgement arrived for
``broker_timeout`` seconds, the broker counts as lost. Any acknowledgement brings it back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaProducer

from privtrail.sdk.partitioner import CachedKeyPartitioner

log = logging.getLogger("privtrail.sdk")

# Settings the SDK's guarantees depend on; producer_config cannot weaken them.
FIXED: dict[str, Any] = {"acks": "all", "enable_idempotence": True}

DEFAULTS: dict[str, Any] = {
    # Batches wait up to 50 ms (an audit event may take that long): kafka-python's I/O
    # thread then wakes several times less often than at 5 ms, and every wake-up takes the GIL
    # from the service's threads. Measured: its CPU per event 4-6 us -> 2.4-2.8 us, and the
    # caller's GIL waits (voluntary context switches) about halved. See docs/sdk.md.
    "linger_ms": 50,
    "batch_size": 64 * 1024,
    # send() blocks the sender thread at most this long (missing metadata, full buffer);
    # the event then goes to the spool instead of waiting a minute.
    "max_block_ms": 1_000,
    "reconnect_backoff_ms": 100,
    "reconnect_backoff_max_ms": 1_000,
    "max_in_flight_requests_per_connection": 5,  # the idempotent producer's maximum
    "client_id": "privtrail-sdk",
    # Pinned: without it the constructor probes the broker's version and blocks for about
    # 30 s when the broker is unreachable, and the SDK must start (and spool) without one.
    # Requests still negotiate their versions; checked against Apache Kafka 4.1.1.
    # Override through producer_config for brokers older than 2.8.
    "api_version": (2, 8),
}

Callback = Callable[[Exception | None], None]


def build_producer(bootstrap: str, config: Mapping[str, Any] | None = None) -> KafkaProducer:
    """A ``KafkaProducer`` with the SDK's defaults, ``config`` on top, then :data:`FIXED`."""
    # A fresh partitioner per producer: its memory of key hashes is not shared across threads.
    merged: dict[str, Any] = {
        "partitioner": CachedKeyPartitioner(),
        **DEFAULTS,
        **dict(config or {}),
        **FIXED,
    }
    merged["bootstrap_servers"] = [s.strip() for s in bootstrap.split(",") if s.strip()]
    return KafkaProducer(**merged)


def open_producer(factory: Callable[[], Any], topic: str, broker: BrokerState) -> Any | None:
    """A producer from ``factory``, or None (and ``broker`` lost) when it cannot be made.

    It then asks for ``topic``'s metadata once (blocks at most ``max_block_ms``), so an
    unreachable broker is noticed at start-up, not only when the first send times out.
    """
    try:
        producer = factory()
    except Exception as exc:  # kafka-python raises a variety; all mean "not now"
        broker.lost(f"cannot create producer: {exc}")
        return None
    try:
        producer.partitions_for(topic)
    except Exception as exc:
        broker.lost(f"no metadata for {topic}: {type(exc).__name__}")
    return producer


class BrokerState:
    """Up/down with one log line and a gauge update per change, judged by progress."""

    def __init__(self, timeout: float, on_change: Callable[[bool], None] | None = None) -> None:
        self.timeout = timeout
        self.up = True
        self._on_change = on_change
        self._progress = time.monotonic()
        self._idle = True
        self._lock = threading.Lock()

    def sending(self, outstanding_before: int) -> None:
        """Note a send; a send after an idle spell restarts the progress clock."""
        if outstanding_before == 0:
            self._progress = time.monotonic()

    def acked(self) -> None:
        self._progress = time.monotonic()
        if not self.up:
            self._set(True, "acknowledgements arrive again")

    def stalled(self, outstanding: int) -> bool:
        """True (and marks the broker lost) when sends wait longer than the timeout."""
        if outstanding and time.monotonic() - self._progress > self.timeout:
            if self.up:
                self._set(False, f"no acknowledgement for {self.timeout:.1f}s")
            return True
        return False

    def lost(self, reason: str) -> None:
        if self.up:
            self._set(False, reason)

    def _set(self, up: bool, reason: str) -> None:
        with self._lock:
            if self.up == up:
                return
            self.up = up
        if up:
            log.info("privtrail broker back (%s); replaying the spool", reason)
        else:
            log.warning("privtrail broker lost (%s); events go to the spool", reason)
        if self._on_change is not None:
            self._on_change(up)
