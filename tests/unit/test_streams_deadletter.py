"""An event whose judging raises goes to the DLQ with the reason; the stream goes on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faust.types import Message

from privtrail.events import parse_event
from privtrail.scenario import colabox_scenario
from privtrail.streams.deadletter import H_KIND, H_REASON, H_TOPIC
from privtrail.streams.validate import validate_message
from privtrail.wire import encode_event

pytestmark = pytest.mark.unit

EVENTS = [parse_event(f) for f in colabox_scenario(datetime(2025, 3, 1, tzinfo=UTC), prefix="d")]


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any, Any, Any]] = []

    async def send(
        self, topic: str, key: Any, value: Any, partition: Any, ts: Any, headers: Any
    ) -> Any:
        self.sent.append((topic, key, value, partition, headers))
        return asyncio.get_running_loop().create_future()


class _Consumer:
    def topic_partitions(self, topic: str) -> int:
        return 4


def _topo(tmp_path: Path) -> Any:
    from privtrail.streams.app import build_app
    from privtrail.streams.settings import WorkerSettings

    topo = build_app(WorkerSettings(bootstrap="127.0.0.1:1", data_dir=tmp_path, app_id="dl"))
    topo.app.producer = _Producer()
    topo.app.consumer = _Consumer()
    return topo


def _message(topo: Any, event: Any) -> Message:
    key = event.subject_id.encode()
    partition = next(p for p in range(4) if topo.in_place(key, "privacy.events", p))
    return Message("privacy.events", partition, 41, 1.0, 0, [], key, encode_event(event), None)


def _bug(*args: Any) -> Any:
    raise RuntimeError("a rule's bug")


def test_a_rule_that_raises_sends_the_event_to_the_dlq_and_the_stream_goes_on(
    tmp_path: Path,
) -> None:
    topo = _topo(tmp_path)
    event = next(e for e in EVENTS if e.subject_id is not None)
    topo.subject_step.apply = _bug
    asyncio.run(validate_message(topo, _message(topo, event)))
    sent = {s[0]: s for s in topo.app.producer.sent}
    # the history still gets it; enforcement failed, so it is kept in the DLQ with why
    assert sent["privacy.events.valid"][2] == encode_event(event)
    _, key, value, _, headers = sent["privacy.events.dlq"]
    assert (key, value) == (event.subject_id.encode(), encode_event(event))
    h = dict(headers)
    assert h[H_KIND] == b"internal"
    assert h[H_REASON] == b"enforce: RuntimeError: a rule's bug"
    assert h[H_TOPIC] == b"privacy.events"
    assert "privacy.alerts" not in sent


def test_a_refused_send_is_not_dead_lettered(tmp_path: Path) -> None:
    """The delivery guard is stopping the worker: the error goes up, nothing to the DLQ."""
    from aiokafka.errors import MessageSizeTooLargeError

    topo = _topo(tmp_path)
    topo.app.delivery._on_failure = None
    topo.delivery.fail("privacy.alerts", MessageSizeTooLargeError())
    topo.subject_step.apply = _bug
    event = next(e for e in EVENTS if e.subject_id is not None)
    with pytest.raises(RuntimeError):
        asyncio.run(validate_message(topo, _message(topo, event)))
    assert "privacy.events.dlq" not in {s[0] for s in topo.app.producer.sent}
