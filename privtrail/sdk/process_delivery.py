"""Process delivery: the caller appends to the spool; a shipper process sends it.

The client side of :mod:`privtrail.sdk.shipper`. :meth:`ProcessDelivery.submit` appends the
encoded event to the spool (one ``write`` to the page cache, or an fsync with
``spool_fsync="always"``) and returns; nothing else of the SDK runs in the service's
threads except a monitor thread that wakes four times a second to read the shipper's mark
(metrics, broker state, ``flush``) and to start a new shipper if the old one died.

Same interface as :class:`privtrail.sdk.delivery.Delivery` (thread delivery), so the
client does not care which one it drives.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from privtrail.sdk.errors import ClientClosedError, SdkError, SpoolFullError
from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.shipmark import ShipMark, read_mark
from privtrail.sdk.shipper import ShipperConfig, hold_lock
from privtrail.sdk.spool import Spool

log = logging.getLogger("privtrail.sdk")

_MONITOR_EVERY = 0.25
_QUICK_EXIT = 5.0  # a shipper that exits sooner than this after its start failed to start
_MAX_BACKOFF = 30.0
_FLUSH_POLL = 0.005


class BrokerView:
    """The broker's state as the shipper last reported it."""

    def __init__(self) -> None:
        self.up = True


class ProcessDelivery:
    """Spool appends in the caller; a supervised shipper process delivers them."""

    def __init__(self, *, config: ShipperConfig, spool: Spool, metrics: SdkMetrics) -> None:
        self._config = config
        self._spool = spool
        self._metrics = metrics
        self._dir = Path(config.spool_dir)
        self.broker = BrokerView()
        self.dead = False
        self._closing = False
        self._closed = False  # what close() returned
        self._proc: subprocess.Popen[bytes] | None = None
        self._spawned_at = 0.0
        self._backoff = 0.0  # 1 s after the first quick exit, doubling up to _MAX_BACKOFF
        self._stop = threading.Event()
        self._seen = ShipMark()  # the mark the metrics were last updated from
        self._lock = threading.Lock()  # _proc and _seen change together
        self._monitor = threading.Thread(
            target=self._watch, name="privtrail-sdk-shipper-monitor", daemon=True
        )

    # -- caller side ---------------------------------------------------------------------
    def start(self) -> None:
        # Another live client on this directory: say so now, not after waiting for its
        # shipper below.
        self._spool.check_unlocked()
        # A shipper of an earlier run (its client was killed) may still be finishing.
        lock = hold_lock(self._dir, timeout=self._config.drain_timeout + 5)
        if lock is None:
            raise SdkError(f"a shipper from an earlier run still holds {self._dir}")
        os.close(lock)
        self._spool.open()
        self._spawn()
        self._monitor.start()

    def submit(self, key: bytes | None, value: bytes) -> bool:
        """Append one encoded event to the spool; False when the broker is lost (the event
        then waits there). Raises :class:`SpoolFullError` or :class:`ClientClosedError`."""
        if self._closing:
            raise ClientClosedError("the audit client is closed")
        try:
            self._spool.append(key, value)
        except SpoolFullError:
            self._metrics.spool_full.inc()
            raise
        if self.broker.up:
            return True
        self._metrics.spooled.inc()
        return False

    @property
    def spooling(self) -> bool:
        """True while events wait in the spool because the broker is lost."""
        return not self.broker.up

    def flush(self, timeout: float | None = None, *, stop_when_lost: bool = False) -> bool:
        """Wait until the shipper reports everything appended so far acknowledged."""
        target = self._spool.position()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            mark = read_mark(self._dir)
            if mark is not None:
                self._update(mark)
                if mark.covers(*target):
                    return True
            if stop_when_lost and not self.broker.up:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_FLUSH_POLL)

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what is appended (up to ``timeout``), stop the shipper, release the
        spool. True when everything was acknowledged; otherwise the rest stays in the
        spool for the next run."""
        if self._closing:
            return self._closed
        self._closing = True
        delivered = self.flush(timeout, stop_when_lost=True)
        self._stop.set()
        if self._monitor.is_alive():
            self._monitor.join()
        self._stop_shipper()
        mark = read_mark(self._dir)
        if mark is not None:
            self._update(mark)
        self._spool.close()
        self._closed = delivered
        return delivered

    # -- the shipper process -------------------------------------------------------------
    def _pid(self) -> int:
        return self._proc.pid if self._proc is not None else -1

    def _spawn(self) -> None:
        # The shipper imports what this process imports: same interpreter, same sys.path
        # (a service may have extended it at run time).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(
            # not "-m privtrail.sdk.shipper": the package imports that module first
            [sys.executable, "-c", "import privtrail.sdk.shipper as s; raise SystemExit(s.main())"],
            stdin=subprocess.PIPE,
            close_fds=True,
            env=env,
        )
        self._spawned_at = time.monotonic()
        assert proc.stdin is not None
        proc.stdin.write(self._config.to_json().encode() + b"\n")
        proc.stdin.flush()  # kept open: its end tells the shipper the spool is final
        with self._lock:
            self._proc = proc
            self._seen = ShipMark()  # a new shipper counts from zero

    def _stop_shipper(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):  # gone already: nothing to tell it
                proc.stdin.close()  # the spool is final: deliver the rest and exit
        try:
            proc.wait(self._config.drain_timeout + 5)
        except subprocess.TimeoutExpired:
            log.error("privtrail shipper did not exit; terminating it")
            proc.kill()
            proc.wait()

    def _watch(self) -> None:
        while not self._stop.wait(_MONITOR_EVERY):
            proc = self._proc
            if proc is not None and proc.poll() is not None and not self._closing:
                # Its spool position is on disk: a new shipper resumes there. One that dies
                # at once again and again waits longer each time (events stay in the spool).
                quick = time.monotonic() - self._spawned_at < _QUICK_EXIT
                self._backoff = min(max(self._backoff * 2, 1.0), _MAX_BACKOFF) if quick else 0.0
                log.error(
                    "privtrail shipper exited (code %s); starting a new one%s",
                    proc.returncode,
                    f" in {self._backoff:.0f}s" if self._backoff else "",
                )
                if self._stop.wait(self._backoff):
                    break
                try:
                    self._spawn()
                    self.dead = False
                except OSError:
                    log.exception("privtrail cannot start a shipper; events stay in the spool")
                    self.dead = True
                continue
            mark = read_mark(self._dir)
            if mark is not None:
                self._update(mark)

    def _update(self, mark: ShipMark) -> None:
        """Metrics and broker state from ``mark``, if the current shipper wrote it (an
        earlier one's counts are not this one's). Called by the monitor and ``flush``."""
        with self._lock:
            if mark.pid != self._pid():
                return
            seen, self._seen = self._seen, mark
            if mark.sent > seen.sent:
                self._metrics.sent.inc(mark.sent - seen.sent)
            if mark.failed > seen.failed:
                self._metrics.failed.inc(mark.failed - seen.failed)
            if mark.resent > seen.resent:
                self._metrics.replayed.inc(mark.resent - seen.resent)
            if mark.broker_up != self.broker.up:
                self.broker.up = mark.broker_up
                self._metrics.broker_up.set(1 if mark.broker_up else 0)
                if mark.broker_up:
                    log.info("privtrail broker back; the shipper sends the spool")
                else:
                    log.warning("privtrail broker lost; events wait in the spool")
        self._metrics.spool_bytes.set(self._spool.forget_delivered())
