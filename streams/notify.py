"""Notify: deliver alerts to webhooks (signed JSON POST, retried) and to the log.

The notify agent reads ``privacy.alerts`` like any consumer, logs one line per alert and
hands it to a :class:`WebhookNotifier`, which never waits on the network in the agent:
each webhook has its own bounded queue and delivery task. Faust feeds all agents from
one consumer, so an agent that blocked on a slow webhook would stall enforcement too.

Each POST carries the alert's JSON form and these headers:

- ``X-Privtrail-Alert-Id``: the deterministic alert id (receivers dedupe on it; the
  worker runs at least once, so a crash can deliver an alert again);
- ``X-Privtrail-Timestamp``: Unix seconds when signed;
- ``X-Privtrail-Signature``: ``sha256=`` + hex HMAC-SHA-256 over ``timestamp + "." +
  body`` with the shared secret (the timestamp lets receivers refuse stale replays).

A failed delivery (connection error, timeout, 408, 429 or 5xx) is retried with
exponential backoff; other 4xx answers are final. A full queue drops the delivery with
an error log line; the alert itself stays on ``privacy.alerts``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from privtrail.alerts import Alert
from privtrail.errors import WireError
from privtrail.streams.errors import StreamsError
from privtrail.wire import decode_alert

if TYPE_CHECKING:
    from privtrail.streams.app import Topology

log = logging.getLogger(__name__)
alert_log = logging.getLogger("privtrail.alerts")

H_ALERT_ID = "X-Privtrail-Alert-Id"
H_TIMESTAMP = "X-Privtrail-Timestamp"
H_SIGNATURE = "X-Privtrail-Signature"
_RETRY_STATUS = frozenset({408, 429})


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA-256 of ``timestamp.body`` under ``secret``."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does: constant-time comparison of the expected signature."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def alert_body(alert: Alert) -> bytes:
    return json.dumps(
        alert.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def log_line(alert: Alert) -> str:
    """One line per alert: ids, rule and pseudonyms only, never values."""
    return (
        f"ALERT {alert.rule} severity={alert.severity} alert_id={alert.alert_id} "
        f"event_id={alert.event_id} subject={alert.subject_id or '-'} "
        f"actor={alert.actor_id or '-'}"
    )


def retry_delays(attempts: int, base: float, cap: float = 30.0) -> list[float]:
    """Backoff before attempts 2..n: base, 2*base, 4*base, ... capped at ``cap``."""
    return [min(cap, base * 2**i) for i in range(attempts - 1)]


Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
"""``post(url, body, headers) -> HTTP status``; raises OSError/TimeoutError on failure."""


@dataclass(slots=True)
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0
    duplicates: int = 0
    last_error: str | None = None
    by_url: dict[str, int] = field(default_factory=dict)


class WebhookNotifier:
    """Queues per webhook, delivery tasks with retries; :meth:`submit` never waits."""

    def __init__(
        self,
        urls: tuple[str, ...],
        secret: bytes,
        *,
        post: Post,
        attempts: int = 5,
        backoff: float = 0.5,
        queue_size: int = 10_000,
        remember: int = 10_000,
    ) -> None:
        self.urls = urls
        self._secret = secret
        self._post = post
        self._delays = retry_delays(attempts, backoff)
        self._queues: dict[str, asyncio.Queue[tuple[str, bytes]]] = {
            url: asyncio.Queue(maxsize=queue_size) for url in urls
        }
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self.stats = DeliveryStats()

    def submit(self, alert: Alert) -> None:
        """Queue ``alert`` for every webhook, unless it was submitted recently."""
        aid = alert.alert_id
        if aid in self._seen:
            self.stats.duplicates += 1  # an at-least-once replay: deliver once
            return
        self._seen[aid] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        body = alert_body(alert)
        for url, queue in self._queues.items():
            try:
                queue.put_nowait((aid, body))
            except asyncio.QueueFull:
                self.stats.dropped += 1
                log.error("webhook %s queue full: alert %s not delivered", url, aid)

    async def run(self) -> None:
        """Deliver until cancelled (one task per webhook)."""
        await asyncio.gather(*(self._deliver_forever(url) for url in self.urls))

    async def _deliver_forever(self, url: str) -> None:
        queue = self._queues[url]
        while True:
            aid, body = await queue.get()
            await self.deliver(url, aid, body)

    def headers(self, aid: str, body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        return {
            "Content-Type": "application/json",
            H_ALERT_ID: aid,
            H_TIMESTAMP: stamp,
            H_SIGNATURE: sign(self._secret, stamp, body),
        }

    async def deliver(self, url: str, aid: str, body: bytes) -> bool:
        """POST with retries; True when the webhook accepted it."""
        for attempt in range(len(self._delays) + 1):
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(self._delays[attempt - 1])
            try:
                status = await self._post(url, body, self.headers(aid, body))
            except (OSError, TimeoutError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= status < 300:
                self.stats.delivered += 1
                self.stats.by_url[url] = self.stats.by_url.get(url, 0) + 1
                return True
            self.stats.last_error = f"HTTP {status}"
            if status < 500 and status not in _RETRY_STATUS:
                break  # the receiver refuses it; retrying will not help
        self.stats.failed += 1
        log.error("webhook %s: alert %s not delivered (%s)", url, aid, self.stats.last_error)
        return False


def aiohttp_post(timeout: float) -> tuple[Post, Callable[[], Awaitable[None]]]:
    """A ``post`` function on one shared aiohttp session, and its close function."""
    import aiohttp

    session: aiohttp.ClientSession | None = None

    async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        try:
            async with session.post(url, data=body, headers=headers) as response:
                return response.status
        except aiohttp.ClientError as exc:
            raise OSError(str(exc)) from exc

    async def close() -> None:
        if session is not None:
            await session.close()

    return post, close


def register(topo: Topology) -> None:
    """Add the notify agent on the alerts topic, and the webhook delivery task."""
    settings = topo.settings
    notifier: WebhookNotifier | None = None
    if settings.webhooks:
        if settings.webhook_secret is None:  # WorkerSettings refuses this already
            raise StreamsError("webhooks need a shared secret")
        post, close = aiohttp_post(settings.webhook_timeout)
        notifier = WebhookNotifier(
            settings.webhooks,
            settings.webhook_secret.get_secret_value().encode(),
            post=post,
            attempts=settings.webhook_attempts,
            backoff=settings.webhook_backoff,
            queue_size=settings.webhook_queue,
        )
        topo.notifier = notifier

        @topo.app.task  # type: ignore[untyped-decorator]
        async def deliver_webhooks() -> None:
            try:
                await notifier.run()
            finally:
                await close()

    @topo.app.agent(topo.alerts, name="privtrail.notify")
    async def notify(stream: Any) -> None:
        async for record in stream.events():
            try:
                alert = decode_alert(record.value)
            except WireError as exc:
                log.error(
                    "undecodable alert at %s[%d]@%d: %s",
                    record.message.topic,
                    record.message.partition,
                    record.message.offset,
                    exc,
                )
                continue
            alert_log.info(log_line(alert))
            if notifier is not None:
                notifier.submit(alert)
