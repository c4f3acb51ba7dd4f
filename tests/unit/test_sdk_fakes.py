"""An in-memory stand-in for the kafka-python producer, for SDK unit tests only.

Integration tests use the real broker; these fakes let unit tests script outages exactly:
``FakeBroker.down()`` leaves sends pending (as kafka-python does while it retries),
``up()`` acknowledges them in order, ``fail_pending()`` fails them (delivery timeout).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytestmark = pytest.mark.unit


class FakeFuture:
    """The polled part of kafka-python's ``FutureRecordMetadata``."""

    def __init__(self) -> None:
        self.is_done = False
        self.exception: Exception | None = None

    def succeeded(self) -> bool:
        return self.is_done and self.exception is None

    def succeed(self, _meta: Any) -> None:
        self.is_done = True

    def fail(self, exc: Exception) -> None:
        self.exception = exc
        self.is_done = True


class FakeBroker:
    """The log the fake producers write to; ``records`` is what the broker acknowledged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.is_up = True
        self.refuse_producers = False
        self.raise_on_send = False
        self.gate: threading.Event | None = None  # when set, send() waits for it
        self.records: list[tuple[bytes | None, bytes]] = []
        self.pending: list[tuple[FakeFuture, bytes | None, bytes]] = []
        self.sends = 0

    def producer(self) -> FakeProducer:
        if self.refuse_producers:
            raise ConnectionError("no brokers available")
        return FakeProducer(self)

    def down(self) -> None:
        with self.lock:
            self.is_up = False

    def up(self) -> None:
        with self.lock:
            self.is_up = True
            pending, self.pending = self.pending, []
            for _, key, value in pending:
                self.records.append((key, value))
        for fut, _, _ in pending:
            fut.succeed(None)

    def fail_pending(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        for fut, _, _ in pending:
            fut.fail(TimeoutError("delivery timed out"))

    def values(self) -> list[bytes]:
        with self.lock:
            return [v for _, v in self.records]


class FakeProducer:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.closed = False

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any:
        broker = self.broker
        if broker.gate is not None:
            broker.gate.wait()
        if broker.raise_on_send:
            raise TimeoutError("Failed to update metadata after 1.0 secs.")
        fut = FakeFuture()
        assert value is not None
        with broker.lock:
            broker.sends += 1
            if not broker.is_up:
                broker.pending.append((fut, key, value))
                return fut
            broker.records.append((key, value))
        fut.succeed(None)
        return fut

    def partitions_for(self, topic: str) -> set[int]:
        if not self.broker.is_up or self.broker.raise_on_send:
            raise TimeoutError("Failed to update metadata after 1.0 secs.")
        return {0}

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        self.closed = True
