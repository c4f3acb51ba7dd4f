"""The shipper: a child process that delivers the spool to Kafka (process delivery).

Started by :class:`privtrail.sdk.process_delivery.ProcessDelivery` as
``python -c "import privtrail.sdk.shipper as s; raise SystemExit(s.main())"``.

In process delivery (``DeliveryOptions(delivery="process")``) the service's threads only
append each encoded event to the spool (:mod:`privtrail.sdk.spool`) and this process,
started by the client, reads the spool front to back and sends it with the kafka-python
producer. No producer, sender thread or I/O thread runs in the service's process, so a
caller never waits for the GIL while one of them runs; that wait made most of the caller's
p99 in thread delivery (docs/sdk.md, "Process delivery").

Every event is on disk before the call returns, so nothing is lost when either process
dies: the shipper resumes from its mark (:mod:`privtrail.sdk.shipmark`), a new client
starts a new shipper, and what the broker did not acknowledge is sent again (at least
once; ``event_id`` makes repeats harmless). Order per key is the spool's order.

The client writes the configuration as one JSON line on the shipper's stdin and keeps the
pipe open. End of stdin (the client closed, or died) means: the spool is final; deliver
what is left, delete the delivered segments and exit. If the broker is lost meanwhile,
or ``drain_timeout`` passes, it exits anyway: the rest stays in the spool for the next run.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from privtrail.sdk.producer import BrokerState, build_producer, open_producer
from privtrail.sdk.shipmark import ShipMark, read_mark, write_mark
from privtrail.sdk.spool import (
    MAGIC,
    READ_WINDOW,
    FsyncPolicy,
    fsync_path,
    read_window,
    segment_path,
    segments,
    try_lock,
)

log = logging.getLogger("privtrail.sdk.shipper")

LOCK_FILE = ".shipper.lock"
_MARK_EVERY = 0.02  # s between mark writes while records are being acknowledged
_BUSY_PAUSE = 0.002
_IDLE_PAUSE = 0.02
_RETRY_BACKOFF = 1.0


@dataclass(frozen=True, slots=True)
class ShipperConfig:
    """What the client tells its shipper (one JSON line on the shipper's stdin)."""

    bootstrap: str
    topic: str
    spool_dir: str
    producer_config: dict[str, Any] = field(default_factory=dict)
    broker_timeout: float = 5.0
    fsync: FsyncPolicy = "interval"
    fsync_interval: float = 0.2
    drain_timeout: float = 10.0
    window: int = 20_000  # records sent but not yet acknowledged, at most

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> ShipperConfig:
        return cls(**json.loads(line))


class Shipper:
    """Reads the spool in order, sends it, records the acknowledged position."""

    def __init__(
        self,
        config: ShipperConfig,
        *,
        producer_factory: Callable[[], Any] | None = None,
        final: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.directory = Path(config.spool_dir)
        self._factory = producer_factory or (
            lambda: build_producer(config.bootstrap, config.producer_config)
        )
        self._final = final  # True once the writer is gone: the spool will not grow
        self.broker = BrokerState(config.broker_timeout, on_change=self._broker_changed)
        mark = read_mark(self.directory) or ShipMark()
        self._acked = mark.position  # everything before it is acknowledged
        self._read = self._acked  # the next byte to send
        # (future, segment, end) in send order; future None marks "reader moved to segment"
        self._inflight: deque[tuple[Any, int, int]] = deque()
        self._producer: Any = None
        self._retry_at = 0.0
        self.sent = 0
        self.failed = 0
        self.resent = 0  # acknowledged records this shipper had sent before (at least once)
        self._resend_until = (0, 0)  # the farthest read position before a restart
        self._mark_due = 0.0
        self._dirty_mark = True

    # -- one turn ----------------------------------------------------------------------
    def turn(self) -> bool:
        """Settle, send more, delete what is delivered; True when something progressed."""
        progressed = self._settle()
        segs = segments(self.directory)  # one listing a turn
        # A stall only marks the broker lost: kafka-python keeps retrying what is in
        # flight, and it either arrives or fails (then everything from the first failed
        # record is sent again). Meanwhile nothing more is sent.
        self.broker.stalled(len(self._inflight))
        now = time.monotonic()
        if (
            now >= self._retry_at
            and len(self._inflight) < self.config.window
            and (self.broker.up or not self._inflight)
        ):
            progressed |= self._send_more(segs)
        self._delete_delivered(segs)
        self._write_mark_if_due(now)
        return progressed

    def caught_up(self) -> bool:
        """Everything on disk was sent and acknowledged (meaningful once the spool is final)."""
        if self._inflight:
            return False
        segs = segments(self.directory)
        if not segs:
            return True
        last = segs[-1]
        seq, off = self._acked
        if (seq, off) < (last, 0):
            return False
        return off >= os.path.getsize(segment_path(self.directory, last))

    def _settle(self) -> bool:
        inflight = self._inflight
        ok = 0
        while inflight:
            future, seq, end = inflight[0]
            if future is not None:
                if not future.is_done:
                    break
                if not future.succeeded():
                    self.sent += ok  # the ones before it did arrive
                    self.failed += 1
                    self.broker.lost(f"delivery failed: {type(future.exception).__name__}")
                    self._restart_from_acked("a send failed")
                    return True
                ok += 1
                if (seq, end) <= self._resend_until:
                    self.resent += 1
            inflight.popleft()
            self._acked = (seq, end)
            self._dirty_mark = True
        if ok:
            self.sent += ok
            self.broker.acked()
        return ok > 0

    def _restart_from_acked(self, why: str) -> None:
        """Forget what is in flight and send again from the first unacknowledged record
        (after a pause): at least once, in spool order."""
        if self._inflight:
            log.warning("privtrail shipper: %s; resending from %s", why, self._acked)
        self._resend_until = max(self._resend_until, self._read)
        self._inflight.clear()
        self._read = self._acked
        self._retry_at = time.monotonic() + _RETRY_BACKOFF
        self._dirty_mark = True

    def _send_more(self, segs: list[int]) -> bool:
        if self._producer is None:
            self._producer = open_producer(self._factory, self.config.topic, self.broker)
            if self._producer is None:
                self._retry_at = time.monotonic() + _RETRY_BACKOFF
                return False
        seq, off = self._read
        if seq not in segs:
            later = [s for s in segs if s > seq]
            if not later:
                return False
            self._move_to(later[0])
            seq, off = self._read
        path = segment_path(self.directory, seq)
        sealed = seq != segs[-1] or self._final()
        room = self.config.window - len(self._inflight)
        sent = self._send_segment(path, seq, max(off, len(MAGIC)), room, sealed)
        if sent == 0 and sealed and self._read[1] >= os.path.getsize(path):
            later = [s for s in segs if s > seq]
            if later:
                self._move_to(later[0])
                return True
        return sent > 0

    def _move_to(self, seq: int) -> None:
        self._read = (seq, len(MAGIC))
        self._inflight.append((None, seq, len(MAGIC)))

    def _send_segment(self, path: Path, seq: int, start: int, room: int, sealed: bool) -> int:
        try:
            records, stop, reason, nbytes = read_window(path, start)
        except FileNotFoundError:
            return 0
        sent = 0
        producer = self._producer
        for key, value, rel_end in records[:room]:
            try:
                future = producer.send(self.config.topic, value=value, key=key)
            except Exception as exc:  # KafkaTimeoutError (no metadata, full buffer) and kin
                self.broker.lost(f"send failed: {type(exc).__name__}")
                self._retry_at = time.monotonic() + _RETRY_BACKOFF
                return sent
            if not self._inflight:
                self.broker.sending(0)
            end = start + rel_end
            self._inflight.append((future, seq, end))
            self._read = (seq, end)
            sent += 1
        if sent == len(records) and reason is not None and sealed and nbytes < READ_WINDOW:
            # The rest of a segment nobody writes any more does not parse: a torn last
            # record (the writer died mid-append) or damage, which the client's next start
            # moves aside (Spool.open). Skip it rather than stop the spool.
            level = logging.WARNING if "cut short" in reason else logging.ERROR
            log.log(
                level,
                "privtrail shipper: %s at byte %d of %s; the rest of it is skipped",
                reason,
                start + stop,
                path.name,
            )
            if level == logging.ERROR:
                self.failed += 1
            self._read = (seq, start + nbytes)
            self._inflight.append((None, seq, start + nbytes))  # delivered once before it is
        return sent

    def _delete_delivered(self, segs: list[int]) -> None:
        seq, off = self._acked
        for s in segs:
            if s < seq:
                segment_path(self.directory, s).unlink(missing_ok=True)
            elif s == seq == segs[-1] and self._final() and not self._inflight:
                path = segment_path(self.directory, s)
                if off >= os.path.getsize(path):
                    path.unlink(missing_ok=True)  # the last one, delivered, nobody writing

    def _write_mark_if_due(self, now: float, force: bool = False) -> None:
        if not (self._dirty_mark or force) or (now < self._mark_due and not force):
            return
        write_mark(
            self.directory,
            ShipMark(
                segment=self._acked[0],
                offset=self._acked[1],
                sent=self.sent,
                failed=self.failed,
                resent=self.resent,
                broker_up=self.broker.up,
                pid=os.getpid(),
            ),
        )
        self._dirty_mark = False
        self._mark_due = now + _MARK_EVERY

    def _broker_changed(self, up: bool) -> None:
        self._dirty_mark = True
        self._mark_due = 0.0  # the client should know at once

    def close(self) -> None:
        """Wait briefly for what is in flight, record the mark, close the producer."""
        producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout=2.0 if self.broker.up else 0.5)
            except Exception:  # a timeout just means "not acknowledged": sent again later
                log.debug("producer flush at exit did not finish", exc_info=True)
            self._settle()
            try:
                producer.close(timeout=0)
            except Exception:
                log.debug("producer close failed", exc_info=True)
        self._delete_delivered(segments(self.directory))
        self._write_mark_if_due(time.monotonic(), force=True)


class SegmentSyncer(threading.Thread):
    """``fsync="interval"``: makes the newest segment durable every ``interval`` seconds
    (the client's appends only reach the page cache).

    A thread of its own, because an fsync on ext4 waits for the journal commit, which
    also writes out every other file's dirty data (the broker's logs on a shared disk):
    measured up to 200 ms, which in the sending loop held back every event behind it.
    """

    def __init__(self, directory: Path, interval: float) -> None:
        super().__init__(name="privtrail-shipper-fsync", daemon=True)
        self.directory = directory
        self.interval = interval
        self._stop_event = threading.Event()
        self._fd: int | None = None
        self._seq = -1
        self._size = -1

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sync()

    def sync(self) -> None:
        segs = segments(self.directory)
        if not segs:
            return
        try:
            if segs[-1] != self._seq:
                # The writer rolled: what it appended to the old segment since the last
                # sync, and the new segment's name (the writer leaves both to this thread).
                if self._fd is not None:
                    os.fsync(self._fd)
                for skipped in (q for q in segs[:-1] if q > self._seq):  # rolled past twice
                    fsync_path(segment_path(self.directory, skipped))
                self._close()
                self._fd = os.open(segment_path(self.directory, segs[-1]), os.O_RDONLY)
                self._seq, self._size = segs[-1], -1
                fsync_path(self.directory)
            if self._fd is None:
                return
            size = os.fstat(self._fd).st_size
            if size != self._size:
                os.fsync(self._fd)  # releases the GIL: the sending loop goes on
                self._size = size
        except FileNotFoundError:
            self._close()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()
        self.sync()  # what was appended last
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._seq = -1


def hold_lock(directory: Path, timeout: float | None) -> int | None:
    """Take the one-shipper-per-spool lock; None when ``timeout`` passes first."""
    directory.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        fd = try_lock(directory / LOCK_FILE)
        if fd is not None:
            return fd
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def run(config: ShipperConfig, stdin_fd: int) -> int:
    """The shipper process's loop, until the spool is final and delivered (or given up)."""
    directory = Path(config.spool_dir)
    lock = hold_lock(directory, timeout=config.drain_timeout + 5)
    if lock is None:
        log.error("privtrail shipper: another shipper holds %s", directory / LOCK_FILE)
        return 2
    for stale in directory.glob(".shipped.*.tmp"):  # a mark a killed shipper never renamed
        stale.unlink(missing_ok=True)
    parent = os.getppid()
    state = {"final": False, "deadline": float("inf")}

    def finish() -> None:
        if not state["final"]:
            state["final"] = True
            state["deadline"] = time.monotonic() + config.drain_timeout

    signal.signal(signal.SIGTERM, lambda *_: finish())
    shipper = Shipper(config, final=lambda: bool(state["final"]))
    syncer = SegmentSyncer(directory, config.fsync_interval)
    if config.fsync == "interval":
        syncer.start()
    try:
        while True:
            if not state["final"]:
                readable, _, _ = select.select([stdin_fd], [], [], 0)
                if (readable and not os.read(stdin_fd, 4096)) or os.getppid() != parent:
                    finish()  # the client closed, or died: the spool will not grow
            progressed = shipper.turn()
            if state["final"]:
                if shipper.caught_up():
                    break
                if not shipper.broker.up or time.monotonic() > state["deadline"]:
                    log.warning(
                        "privtrail shipper: exiting with part of the spool undelivered "
                        "(broker %s); the next run sends it",
                        "lost" if not shipper.broker.up else "slow",
                    )
                    break
            time.sleep(_BUSY_PAUSE if progressed else _IDLE_PAUSE)
    finally:
        shipper.close()
        if syncer.is_alive():
            syncer.stop()
        os.close(lock)
    return 0


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group: the client decides when the
    # shipper stops (by closing its stdin), so an interrupted service still drains.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    # kafka-python logs each failed connection attempt; the shipper says "broker lost" once
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    line = sys.stdin.buffer.readline()
    if not line:
        return 2
    return run(ShipperConfig.from_json(line.decode()), sys.stdin.fileno())


if __name__ == "__main__":
    sys.exit(main())
