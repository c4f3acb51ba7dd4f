"""The worker's sensor hub: Faust's, without the monitor's bookkeeping for every record.

Faust calls its sensors four times for every record a stream takes (message in, event in,
event out, message out), and the app's :class:`faust.sensors.Monitor` is always one of
them: counters by topic and by stream, timestamps on each message, a deque of event run
times, behind a dict comprehension in the delegate. Those numbers feed only Faust's web
statistics pages; in ``benchmarks/bench_streams.py`` the four calls cost 8-10 % of the
worker's CPU (alternated runs with and without the monitor; docs/streams.md,
Performance).

:class:`LeanSensorDelegate` keeps of them only what Faust itself reads: the time each
partition's stream last took an event (``Monitor.stream_inbound_time``, which Faust's
consumer checks to log a stream that has stopped processing) and the last offset read per
partition (``Monitor.tp_read_offsets``, the consumer lag of the web metrics). Every other
sensor call (commits, sends, rebalances, tables, buffer full) still reaches the monitor,
and any other sensor added to the app, a Prometheus or Datadog monitor included, still gets
every per-record call. What the web statistics no longer show: per-record counts and
run times of the plain monitor.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor

from privtrail.streams.delivery import GuardedSensorDelegate


class LeanSensorDelegate(GuardedSensorDelegate):
    """:class:`GuardedSensorDelegate` whose per-record calls skip the plain Monitor,
    keeping the two things Faust reads from it (see the module docstring)."""

    def __init__(self, app: Any, guard: Any) -> None:
        super().__init__(app, guard)
        self._monitor: Monitor | None = None
        self._per_record: tuple[Any, ...] = ()

    def add(self, sensor: Any) -> None:
        super().add(sensor)
        self._split()

    def remove(self, sensor: Any) -> None:
        super().remove(sensor)
        self._split()

    def _split(self) -> None:
        # Only Faust's own Monitor class: a subclass (faust's PrometheusMonitor, a
        # user's) exists to export those numbers and keeps getting every call.
        plain = [s for s in self._sensors if type(s) is Monitor]
        self._monitor = plain[0] if plain else None
        self._per_record = tuple(s for s in self._sensors if type(s) is not Monitor)

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        if self._monitor is not None:
            self._monitor.tp_read_offsets[tp] = offset
        for sensor in self._per_record:
            sensor.on_message_in(tp, offset, message)

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        if self._monitor is not None:
            self._monitor.stream_inbound_time[tp] = monotonic()
        if not self._per_record:
            return None
        return {s: s.on_stream_event_in(tp, offset, stream, event) for s in self._per_record}

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        if not self._per_record:
            return
        states = state or {}
        for sensor in self._per_record:
            sensor.on_stream_event_out(tp, offset, stream, event, states.get(sensor))

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        for sensor in self._per_record:
            sensor.on_message_out(tp, offset, message)


__all__ = ["LeanSensorDelegate"]
