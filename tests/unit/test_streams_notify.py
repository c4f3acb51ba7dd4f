"""Webhook delivery: signature, retries with backoff, final refusals, dedupe, the log line."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from privtrail.alerts import Alert
from privtrail.streams.notify import (
    H_ALERT_ID,
    H_SIGNATURE,
    H_TIMESTAMP,
    WebhookNotifier,
    alert_body,
    log_line,
    retry_delays,
    sign,
    verify,
)

pytestmark = pytest.mark.unit

SECRET = b"test-shared-secret"
ALERT = Alert(
    rule="PURPOSE_VIOLATION",
    event_id="evt-1",
    subject_id="ps_subject_1",
    severity="high",
    message="used for an undeclared purpose",
    occurred_at=datetime(2025, 3, 1, tzinfo=UTC),
    policy_version="demo-1",
    actor_id="agent-7",
    evidence={"purpose": "marketing"},
)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = alert_body(ALERT)
    want = hmac.new(SECRET, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1700000000", body) == f"sha256={want}"
    assert verify(SECRET, "1700000000", body, f"sha256={want}")
    assert not verify(SECRET, "1700000001", body, f"sha256={want}")
    assert not verify(b"other", "1700000000", body, f"sha256={want}")


def test_body_is_the_alert_json_form() -> None:
    assert json.loads(alert_body(ALERT)) == ALERT.to_json()


def test_log_line_has_ids_not_message_text() -> None:
    line = log_line(ALERT)
    assert ALERT.alert_id in line and "PURPOSE_VIOLATION" in line and "ps_subject_1" in line


def test_backoff_doubles_and_is_capped() -> None:
    assert retry_delays(5, 0.5) == [0.5, 1.0, 2.0, 4.0]
    assert retry_delays(8, 10, cap=30) == [10, 20, 30, 30, 30, 30, 30]
    assert retry_delays(1, 1) == []


class FakeReceiver:
    """Answers with the scripted statuses (an exception class raises), records requests."""

    def __init__(self, script: list[int | type[Exception]]) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.requests.append((url, body, headers))
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, type):
            raise step("scripted failure")
        return step


def notifier(receiver: FakeReceiver, **kw: object) -> WebhookNotifier:
    return WebhookNotifier(
        ("http://127.0.0.1:1/hook",), SECRET, post=receiver.post, attempts=4, backoff=0.001, **kw
    )  # type: ignore[arg-type]


def test_retries_until_accepted_and_signs_each_attempt() -> None:
    receiver = FakeReceiver([ConnectionRefusedError, 503, TimeoutError, 204])
    n = notifier(receiver)
    ok = asyncio.run(n.deliver("http://127.0.0.1:1/hook", ALERT.alert_id, alert_body(ALERT)))
    assert ok and n.stats.delivered == 1 and n.stats.retries == 3
    assert len(receiver.requests) == 4
    for _, body, headers in receiver.requests:
        assert headers[H_ALERT_ID] == ALERT.alert_id
        assert verify(SECRET, headers[H_TIMESTAMP], body, headers[H_SIGNATURE])


def test_gives_up_after_the_attempts() -> None:
    receiver = FakeReceiver([500, 500, 500, 500, 200])
    n = notifier(receiver)
    assert not asyncio.run(n.deliver("http://x/hook", "id", b"{}"))
    assert n.stats.failed == 1 and len(receiver.requests) == 4
    assert n.stats.last_error == "HTTP 500"


@pytest.mark.parametrize("status, attempts", [(400, 1), (401, 1), (404, 1), (429, 2), (408, 2)])
def test_client_errors_are_final_except_408_and_429(status: int, attempts: int) -> None:
    receiver = FakeReceiver([status, 200])
    n = notifier(receiver)
    asyncio.run(n.deliver("http://x/hook", "id", b"{}"))
    assert len(receiver.requests) == attempts


def test_submit_queues_once_per_alert_id_and_drops_when_full() -> None:
    async def scenario() -> WebhookNotifier:
        receiver = FakeReceiver([])
        n = notifier(receiver, queue_size=1)
        n.submit(ALERT)
        n.submit(ALERT)  # an at-least-once replay of the same alert
        other = Alert.from_json({**ALERT.to_json(), "event_id": "evt-2"})
        n.submit(other)  # the queue (size 1) is full: dropped, logged
        return n

    n = asyncio.run(scenario())
    assert n.stats.duplicates == 1
    assert n.stats.dropped == 1


def test_run_delivers_queued_alerts() -> None:
    async def scenario() -> FakeReceiver:
        receiver = FakeReceiver([])
        n = notifier(receiver)
        n.submit(ALERT)
        task = asyncio.create_task(n.run())
        for _ in range(100):
            if receiver.requests:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return receiver

    receiver = asyncio.run(scenario())
    assert [json.loads(body)["alert_id"] for _, body, _ in receiver.requests] == [ALERT.alert_id]
