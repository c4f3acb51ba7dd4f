"""No offset is committed past an output the broker did not acknowledge.

The gap this closes: with ``processing_guarantee="at_least_once"`` Faust flushes its
producer before it commits offsets, but aiokafka's ``flush`` only *waits* for the batches
in flight (``asyncio.wait``); a batch the broker refuses after the producer's retries
(message too large, topic deleted, not authorised, timed out) ends with failed futures
and nothing raised. Faust then commits the source offset past the record whose
forwarded event, alert or changelog write never landed, and a restart does not replay
it: lost.

:class:`DeliveryGuard` watches every send of the worker (``Topology.send``, and through
it ``RawTable``; Faust's own sends report through :class:`GuardedSensorDelegate`). The
first failure is recorded and logged with its topic and error, and ``on_failure`` runs
(the app crashes it: the worker stops and exits non-zero). From then on
:meth:`DeliveryGuard.may_commit`, which the consumer asks before every offset commit
(``privtrail.streams.consumer``), says no: not the periodic commit, not the one at a
rebalance, not the one on the way out. The restarted worker resumes from the last
commit, before the record whose output failed; a replay is harmless (per-key ledgers,
deterministic alert ids).

Why "no commit at all" rather than per partition: a failed record's source partition is
not known where the broker's answer arrives, and a stopping worker loses nothing by
committing nothing (its successor replays a little more).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from faust.sensors import SensorDelegate

from privtrail.streams.errors import StreamsError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """A record the broker did not acknowledge: where it was going, and why."""

    topic: str
    error: BaseException

    def describe(self) -> str:
        why = _error_text(self.error)
        return f"output to topic {self.topic!r} was not acknowledged by the broker ({why})"


class UndeliveredOutput(StreamsError):
    """An output of the worker was not acknowledged; the worker stops uncommitted.

    ``failure`` is the first :class:`DeliveryFailure`.
    """

    def __init__(self, failure: DeliveryFailure) -> None:
        self.failure = failure
        super().__init__(
            f"{failure.describe()}; no offset is committed past it: the worker stops, and "
            "a restart replays from the last commit"
        )


def _error_text(error: BaseException) -> str:
    """The error's class and message (aiokafka's errors often have an empty message)."""
    text, name = str(error), type(error).__name__
    if not text:
        return name
    return text if name in text else f"{name}: {text}"


class DeliveryGuard:
    """Record the first failed delivery, refuse offset commits after it."""

    __slots__ = ("failure", "_on_failure", "_callbacks", "_refusals")

    def __init__(self, on_failure: Callable[[UndeliveredOutput], None] | None = None) -> None:
        self.failure: DeliveryFailure | None = None
        self._on_failure = on_failure
        # One callback per topic, made once: a send then costs one dict lookup more
        # than a bare add_done_callback.
        self._callbacks: dict[str, Callable[[asyncio.Future[Any]], None]] = {}
        self._refusals = 0

    def watch(self, future: asyncio.Future[Any], topic: str) -> None:
        """Check ``future`` (a producer send to ``topic``) when it completes."""
        callback = self._callbacks.get(topic)
        if callback is None:
            callback = self._callbacks[topic] = partial(self._completed, topic)
        future.add_done_callback(callback)

    def _completed(self, topic: str, future: asyncio.Future[Any]) -> None:
        if future.cancelled():  # not acknowledged either
            self.fail(topic, asyncio.CancelledError("send cancelled before the broker's ack"))
            return
        error = future.exception()
        if error is not None:
            self.fail(topic, error)

    def fail(self, topic: str, error: BaseException) -> None:
        """Record that a record for ``topic`` was not acknowledged (first one wins)."""
        if self.failure is not None:
            log.error("output to topic %r not acknowledged either (%s)", topic, _error_text(error))
            return
        self.failure = DeliveryFailure(topic, error)
        crash = UndeliveredOutput(self.failure)
        log.error("%s", crash)
        if self._on_failure is not None:
            self._on_failure(crash)

    async def may_commit(self) -> bool:
        """False once a delivery failed. Call it after the producer's flush.

        A batch refused while ``flush`` waits on it has its record futures failed in the
        same step as the batch future, so their done-callbacks (ours) run before the
        flushing task resumes. A batch refused earlier is no longer waited on, and
        ``flush`` may return without yielding: the ``sleep(0)`` lets the callbacks
        already scheduled by then run before we look.
        """
        await asyncio.sleep(0)
        if self.failure is None:
            return True
        self._refusals += 1
        log.error(
            "offsets not committed (%d time(s) so far): %s",
            self._refusals,
            self.failure.describe(),
        )
        return False


_TOPIC = object()  # where GuardedSensorDelegate keeps the topic in a send's sensor state


class GuardedSensorDelegate(SensorDelegate):
    """Faust's sensor hub, also telling a :class:`DeliveryGuard` of failed Faust sends.

    Faust reports a send through ``Topic.send``/``send_soon`` that the broker refused
    only to its sensors (and a warning line). Hooking the delegate, not adding a sensor,
    costs nothing per record: sensors are called several times for every record.
    """

    def __init__(self, app: Any, guard: DeliveryGuard) -> None:
        super().__init__(app)
        self.guard = guard

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        state = super().on_send_initiated(producer, topic, message, keysize, valsize)
        state[_TOPIC] = topic  # read back by on_send_error; the sensors ignore the key
        return state

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        topic = state.get(_TOPIC, "?") if isinstance(state, dict) else "?"
        self.guard.fail(str(topic), exc)
        super().on_send_error(producer, exc, state)
