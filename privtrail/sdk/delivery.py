"""Delivery: the in-memory queue, the sender thread, and the spool replay.

The caller's thread only appends ``(key, value)`` to a bounded deque (:meth:`Delivery.submit`).
One sender thread hands records to the kafka-python producer and settles acknowledgements.
Two modes keep per-key order:

* ``direct``: events go through the deque to the producer;
* ``spooling``: the broker is lost, the deque is full, or a previous run left a spool. New
  events are appended to the spool (by the caller, under the same lock that orders the
  mode switch), and the sender replays the spool in order. When replay has caught up with the
  writer and every replayed record is acknowledged, the spool is emptied and the mode goes
  back to direct.

Replay itself lives in :mod:`privtrail.sdk.replay`: a segment is deleted only after every
record of it was acknowledged. A record that fails in flight is appended to the spool again
(at least once; ``event_id`` makes repeats harmless).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from privtrail.sdk.errors import ClientClosedError, SpoolFullError
from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.producer import BrokerState, open_producer
from privtrail.sdk.replay import Replayer, Step
from privtrail.sdk.spool import Spool

log = logging.getLogger("privtrail.sdk")

# Records handed to the producer per loop turn: with the pause below, at most about
# 5,000 / (20 ms + 55 ms of sends) = 65,000 events/s drained, above what one process's
# callers can produce while sharing the GIL (about 30,000/s).
_DIRECT_BATCH = 5_000
_RETRY_BACKOFF = 1.0
# Pause after a busy turn. Each turn takes the GIL from the callers at least once, and the
# caller call that is running then waits for the whole turn: those waits are a caller's
# p99. A longer pause means fewer, larger turns. Measured at the same load, caller GIL waits
# per 1,000 events and p99: 2 ms gave a p99 of 350-650 us, 10 ms 10-14 waits and 65-115 us,
# 20 ms 6-9 waits and 47-100 us. It adds at most this much latency before kafka-python's
# own linger; the default queue holds seconds of events.
_BUSY_PAUSE = 0.020
_WAIT_PAUSE = 0.005
_IDLE_WAIT = 0.5


class ProducerLike(Protocol):
    """The part of ``kafka.KafkaProducer`` the SDK uses."""

    def send(self, topic: str, value: bytes | None = ..., key: bytes | None = ...) -> Any: ...
    def partitions_for(self, topic: str) -> Any: ...
    def flush(self, timeout: float | None = ...) -> None: ...
    def close(self, timeout: float | None = ...) -> None: ...


class Delivery:
    """Queue + sender thread + spool replay for one topic. Thread-safe ``submit``."""

    def __init__(
        self,
        *,
        producer_factory: Callable[[], ProducerLike],
        topic: str,
        spool: Spool,
        metrics: SdkMetrics,
        queue_size: int,
        broker_timeout: float,
        replay_window: int = 5_000,
    ) -> None:
        self._factory = producer_factory
        self._topic = topic
        self._spool = spool
        self._metrics = metrics
        self._queue_size = queue_size
        self._max_inflight = max(queue_size, 1_000)
        self._replay_window = replay_window
        self._lock = threading.Lock()
        self._deque: deque[tuple[bytes | None, bytes]] = deque()
        self._spooling = False
        self._closing = False
        self._stopped = threading.Event()
        self._wake = threading.Event()
        # Sends in flight, in send order. The sender thread polls their futures instead of
        # registering callbacks: no per-record closures, no cross-thread queue, no GIL
        # hand-off from kafka-python's I/O thread per acknowledgement.
        self._direct: deque[tuple[Any, bytes | None, bytes]] = deque()
        self._idle = False
        self.dead = False
        self._producer: ProducerLike | None = None
        self._next_connect = 0.0
        self.broker = BrokerState(broker_timeout, on_change=self._broker_changed)
        self._replayer = Replayer(
            spool=spool, metrics=metrics, broker=self.broker, send=self._send, window=replay_window
        )
        self._thread = threading.Thread(target=self._run, name="privtrail-sdk-sender", daemon=True)

    # -- caller side ---------------------------------------------------------------------
    def start(self) -> None:
        self._spool.open()
        self._metrics.spool_bytes.set(self._spool.size_bytes)
        if not self._spool.is_empty():
            self._spooling = True  # a previous run's events go first
        self._thread.start()

    def submit(self, key: bytes | None, value: bytes) -> bool:
        """Queue one encoded event; returns False when it went to the spool instead.

        Raises :class:`SpoolFullError` (nothing recorded) or :class:`ClientClosedError`.
        """
        with self._lock:
            if self._closing:
                raise ClientClosedError("the audit client is closed")
            if not self._spooling:
                if len(self._deque) < self._queue_size:
                    self._deque.append((key, value))
                    if self._idle:  # only an idle sender needs waking; a busy one polls
                        self._idle = False
                        self._wake.set()
                    return True
                self._spooling = True
                log.warning("privtrail in-memory queue full (%d); spooling", self._queue_size)
            self._append_spool(key, value)
        return False

    def _append_spool(self, key: bytes | None, value: bytes) -> None:
        try:
            self._spool.append(key, value)
        except SpoolFullError:
            self._metrics.spool_full.inc()
            raise
        self._metrics.spooled.inc()
        self._metrics.spool_bytes.set(self._spool.size_bytes)

    @property
    def spooling(self) -> bool:
        return self._spooling

    def pending(self) -> int:
        """Events not yet acknowledged that this process still holds in memory."""
        return len(self._deque) + len(self._direct)

    def flush(self, timeout: float | None = None, *, stop_when_lost: bool = False) -> bool:
        """Wait until everything submitted so far is acknowledged; False on timeout.

        With ``stop_when_lost`` it also returns (False) as soon as the broker is lost and the
        queue is empty: everything is then in the spool, and waiting longer buys nothing.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self._deque and not self._direct and not self._spooling:
                return True
            if self._stopped.is_set() or self.dead:
                return False
            if stop_when_lost and not self.broker.up and not self._deque:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.005)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop accepting events, deliver or spool what is held, release the spool.

        Returns True when everything was acknowledged (nothing left behind in the spool).
        """
        with self._lock:
            already = self._closing
            self._closing = True
        if already:
            self._thread.join()
            return self._spool.is_empty()
        delivered = self.flush(timeout, stop_when_lost=True)
        self._stopped.set()
        self._wake.set()
        self._thread.join()
        return delivered

    # -- sender thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                if self._turn():
                    # Busy: let callers and kafka-python's I/O thread run, then take what
                    # accumulated as one batch (fewer GIL hand-offs than waking per event;
                    # see _BUSY_PAUSE).
                    time.sleep(_BUSY_PAUSE)
                elif self._deque or self._direct or self._replayer.inflight or self._spooling:
                    time.sleep(_WAIT_PAUSE)  # waiting for acknowledgements or a retry
                else:
                    self._idle = True
                    if not self._deque:  # an append may have raced the flag: look again
                        self._wake.wait(_IDLE_WAIT)
                    self._wake.clear()
                    self._idle = False
        except Exception:
            # A bug, not an outage. Never drop silently: from now on callers write to the
            # spool (kept open until close()), which the next run of the process replays.
            log.exception("privtrail sender thread failed; events now go to the spool only")
            self.dead = True
            self._divert()
            self._stopped.wait()
        finally:
            self._shutdown()

    def _turn(self) -> bool:
        """One loop turn; True when it made progress (then the next turn comes soon)."""
        progressed = self._settle()
        if self._producer is None and not self._connect():
            self._divert()
            return progressed
        if self._deque:
            if self.broker.up:
                progressed |= self._send_direct()
            else:
                self._divert()
                progressed = True
        elif self._spooling:
            step = self._replayer.step()
            progressed |= step is Step.SENT
            if step is Step.END:
                progressed |= self._back_to_direct()
        if self.broker.stalled(len(self._direct) + self._replayer.inflight) or (
            not self.broker.up and not self._spooling
        ):
            self._divert()  # a lost broker means spooling, even before the next event
        self._spool.sync_if_due()
        self._metrics.queue_depth.set(len(self._deque))
        return progressed

    def _connect(self) -> bool:
        now = time.monotonic()
        if now < self._next_connect:
            return False
        self._producer = open_producer(self._factory, self._topic, self.broker)
        if self._producer is None:
            self._next_connect = now + _RETRY_BACKOFF
            return False
        return True

    def _send(self, key: bytes | None, value: bytes) -> Any:
        """Hand one record to the producer; None when the producer refused it."""
        producer = self._producer
        if producer is None:
            return None
        try:
            return producer.send(self._topic, value=value, key=key)
        except Exception as exc:  # KafkaTimeoutError (no metadata / full buffer) and kin
            self.broker.lost(f"send failed: {type(exc).__name__}")
            return None

    def _send_direct(self) -> bool:
        sent = 0
        direct = self._deque
        inflight = self._direct
        while direct and sent < _DIRECT_BATCH and len(inflight) < self._max_inflight:
            key, value = direct.popleft()
            if not inflight:
                self.broker.sending(0)
            future = self._send(key, value)
            if future is None:
                direct.appendleft((key, value))
                self._divert()
                return True
            inflight.append((future, key, value))
            sent += 1
        return sent > 0

    def _divert(self) -> None:
        """Broker lost: switch to spooling and move the queue, in order, into the spool."""
        with self._lock:
            if not self._spooling:
                self._spooling = True
            while self._deque:
                key, value = self._deque[0]
                try:
                    self._append_spool(key, value)
                except SpoolFullError:
                    # keep the rest in memory; callers get SpoolFullError meanwhile
                    log.error("privtrail spool full while the broker is lost")
                    break
                self._deque.popleft()

    def _settle(self) -> bool:
        """Account for finished sends, oldest first (stops at the first unfinished one)."""
        return self._settle_direct() | self._replayer.settle()

    def _settle_direct(self) -> bool:
        inflight = self._direct
        ok = failed = 0
        while inflight and inflight[0][0].is_done:
            future, key, value = inflight.popleft()
            if future.succeeded():
                ok += 1
                continue
            failed += 1
            self.broker.lost(f"delivery failed: {type(future.exception).__name__}")
            self._respool((key, value))
        if ok:
            self.broker.acked()
            self._metrics.sent.inc(ok)
        if failed:
            self._metrics.failed.inc(failed)
        return bool(ok or failed)

    def _respool(self, record: tuple[bytes | None, bytes]) -> None:
        with self._lock:
            self._spooling = True
            try:
                self._append_spool(*record)
            except SpoolFullError:
                # the one way an accepted event can be lost: said loudly, counted in failed
                log.error("privtrail LOST one event: delivery failed and the spool is full")

    def _back_to_direct(self) -> bool:
        """At the spool's end: once all is acknowledged, empty it and go direct again."""
        if not self._replayer.settled() or self._deque or not self.broker.up:
            return False
        with self._lock:  # no appends while deciding: the writer might be one record ahead
            if not self._replayer.at_writer_end():
                return True  # appended meanwhile: keep replaying
            self._replayer.finish()
            self._spooling = False
        log.info("privtrail spool replayed; sending directly again")
        return True

    def _broker_changed(self, up: bool) -> None:
        self._metrics.broker_up.set(1 if up else 0)
        self._wake.set()

    def _shutdown(self) -> None:
        """Flush what the producer holds; spool whatever is still not acknowledged."""
        producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout=1.0 if not self.broker.up else 5.0)
            except Exception:  # a timeout here just means "not acknowledged": spooled below
                log.debug("producer flush at close did not finish", exc_info=True)
            try:
                producer.close(timeout=0)
            except Exception:
                log.debug("producer close failed", exc_info=True)
        self._settle()
        with self._lock:
            # not acknowledged (or failed) by now: kept in the spool for the next run
            leftovers = [(k, v) for f, k, v in self._direct if not (f.is_done and f.succeeded())]
            leftovers += list(self._deque)
            self._direct.clear()
            self._deque.clear()
        for record in leftovers:
            self._respool(record)
        self._metrics.queue_depth.set(0)
        self._spool.close()
