"""The worker's sensor hub: no monitor bookkeeping per record, everything else as Faust's.

``LeanSensorDelegate`` skips Faust's plain Monitor in the four per-record calls, keeping
the two things Faust reads from it (the stall detector's ``stream_inbound_time``, the web
metrics' ``tp_read_offsets``); other sensors, and every other call, are untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faust.sensors import Sensor
from faust.sensors.monitor import Monitor
from faust.types import TP

from privtrail.streams.delivery import GuardedSensorDelegate
from privtrail.streams.sensors import LeanSensorDelegate

pytestmark = pytest.mark.unit

TP0 = TP("privacy.events", 0)


class Recording(Sensor):
    """A sensor that notes every per-record call and passes a state from in to out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[Any, ...]] = []

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.calls.append(("message_in", tp, offset))

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        self.calls.append(("event_in", tp, offset))
        return {"token": offset}

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        self.calls.append(("event_out", tp, offset, state))

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        self.calls.append(("message_out", tp, offset))


class Exporting(Monitor):
    """A Monitor subclass (as faust's Prometheus monitor is): it wants every call."""


@pytest.fixture
def app(tmp_path: Path) -> Any:
    from privtrail.streams.app import build_app
    from privtrail.streams.settings import WorkerSettings

    settings = WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="ls1")
    return build_app(settings).app


class _Message:
    """What a Monitor writes on a message (its times); the lean path writes nothing."""

    time_in: float | None = None
    time_out: float | None = None
    time_total: float | None = None


class _Owner:
    """The task owning a stream (a Monitor keys counters by it, weakly)."""


class _Stream:
    def __init__(self) -> None:
        self.task_owner = _Owner()


STREAM = _Stream()


def _one_record(sensors: Any, offset: int = 7) -> None:
    message = _Message()
    sensors.on_message_in(TP0, offset, message)
    state = sensors.on_stream_event_in(TP0, offset, STREAM, "event")
    sensors.on_stream_event_out(TP0, offset, STREAM, "event", state)
    sensors.on_message_out(TP0, offset, message)


def test_the_worker_app_uses_the_lean_delegate_with_the_guard(app: Any) -> None:
    assert isinstance(app.sensors, LeanSensorDelegate)
    assert isinstance(app.sensors, GuardedSensorDelegate)
    assert app.sensors.guard is app.delivery


def test_the_monitor_keeps_only_what_faust_reads_per_record(app: Any) -> None:
    sensors, monitor = app.sensors, app.monitor
    sensors.add(monitor)  # as the app does at start
    _one_record(sensors, 7)
    assert monitor.tp_read_offsets[TP0] == 7  # consumer lag on the web metrics
    assert TP0 in monitor.stream_inbound_time  # Faust's stalled-stream check reads it
    assert monitor.messages_received_total == 0 and monitor.events_total == 0
    assert not monitor.events_runtime
    assert sensors.on_stream_event_in(TP0, 8, STREAM, "event") is None
    # anything else still reaches it: here a send Faust made, and one that failed
    state = sensors.on_send_initiated(None, "ls1-deadline-index-changelog", None, 4, 0)
    sensors.on_send_completed(None, state, None)
    assert monitor.messages_sent == 1


def test_other_sensors_get_every_per_record_call_with_their_state(app: Any) -> None:
    sensors = app.sensors
    recording, exporting = Recording(), Exporting()
    sensors.add(app.monitor)
    sensors.add(recording)
    sensors.add(exporting)
    _one_record(sensors, 3)
    assert recording.calls == [
        ("message_in", TP0, 3),
        ("event_in", TP0, 3),
        ("event_out", TP0, 3, {"token": 3}),
        ("message_out", TP0, 3),
    ]
    assert exporting.messages_received_total == 1 and exporting.events_total == 1
    assert exporting.messages_active == 0 and exporting.events_active == 0
    assert app.monitor.messages_received_total == 0
    sensors.remove(recording)
    _one_record(sensors, 4)
    assert len(recording.calls) == 4  # removed: no further calls
    assert exporting.messages_received_total == 2


def test_without_a_monitor_nothing_is_kept(app: Any) -> None:
    sensors = app.sensors
    _one_record(sensors, 1)  # no sensor at all yet: nothing to call, nothing raised
    assert TP0 not in app.monitor.stream_inbound_time
