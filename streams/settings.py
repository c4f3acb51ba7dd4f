"""Settings of the stream worker, read from the environment once, here.

Every ``PRIVTRAIL_WORKER_*`` variable is read in :meth:`WorkerSettings.from_env`; the
bootstrap servers share the SDK's ``PRIVTRAIL_BOOTSTRAP_SERVERS`` and the topic names
come from :class:`privtrail.config.Topics` (``PRIVTRAIL_TOPIC_*``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from privtrail.config import Topics, privtrail_home
from privtrail.streams.errors import StreamsError

# field name -> environment variable (documented in docs/streams.md; keep both in step)
ENV: dict[str, str] = {
    "bootstrap": "PRIVTRAIL_BOOTSTRAP_SERVERS",
    "app_id": "PRIVTRAIL_WORKER_APP_ID",
    "partitions": "PRIVTRAIL_WORKER_PARTITIONS",
    "webhooks": "PRIVTRAIL_WORKER_WEBHOOKS",
    "webhook_secret": "PRIVTRAIL_WORKER_WEBHOOK_SECRET",
    "web_port": "PRIVTRAIL_WORKER_WEB_PORT",
    "data_dir": "PRIVTRAIL_WORKER_DATA_DIR",
    "clock_offset": "PRIVTRAIL_WORKER_CLOCK_OFFSET",
    "deadline_interval": "PRIVTRAIL_WORKER_DEADLINE_INTERVAL",
    "deadline_lateness": "PRIVTRAIL_WORKER_DEADLINE_LATENESS",
    "policy_path": "PRIVTRAIL_POLICY",
    "log_level": "PRIVTRAIL_WORKER_LOG_LEVEL",
    "fetch_max_wait": "PRIVTRAIL_WORKER_FETCH_MAX_WAIT",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on ``host`` (the web server binds it moments later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """Everything the worker needs; frozen so one run sees one configuration.

    ``clock_offset`` (seconds) moves the deadline timer's clock away from the wall clock.
    It exists for tests and drills ("what fires in 11 days?"): it shifts *when* the timer
    looks, never what a rule means, and events are still judged by their own
    ``occurred_at``.
    """

    bootstrap: str
    app_id: str = "privtrail-worker"
    partitions: int = 4
    topics: Topics = field(default_factory=Topics)
    webhooks: tuple[str, ...] = ()
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = 5.0
    webhook_attempts: int = 5
    webhook_backoff: float = 0.5
    webhook_queue: int = 10_000
    web_host: str = "127.0.0.1"
    web_port: int = 0  # 0: pick a free port at start
    data_dir: Path = field(default_factory=lambda: privtrail_home() / "worker")
    clock_offset: float = 0.0
    deadline_interval: float = 1.0
    # The timer judges deadlines this many seconds in the past, so an event that occurred
    # before a deadline but is still on its way (SDK queue, broker, validate) can close it.
    deadline_lateness: float = 60.0
    commit_interval: float = 1.0
    session_timeout: float = 10.0  # short: a killed worker's partitions move on quickly
    # Seconds the broker may hold a fetch that finds no new data (Faust's own is 1.5 s,
    # which stalls a backlogged worker: privtrail.streams.consumer, "The fetch wait").
    fetch_max_wait: float = 0.1
    policy_path: Path | None = None
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not self.bootstrap:
            raise StreamsError(
                "no Kafka bootstrap servers: pass --bootstrap or set PRIVTRAIL_BOOTSTRAP_SERVERS"
            )
        if self.partitions < 1:
            raise StreamsError(f"partitions must be at least 1, not {self.partitions}")
        if self.deadline_interval <= 0:
            raise StreamsError("deadline_interval must be positive")
        if not 0 < self.fetch_max_wait <= 30:
            raise StreamsError(
                f"fetch_max_wait must be above 0 and at most 30 seconds, not {self.fetch_max_wait}"
            )
        if self.deadline_lateness < 0:
            raise StreamsError("deadline_lateness must not be negative")
        if self.webhook_attempts < 1:
            raise StreamsError("webhook_attempts must be at least 1")
        for url in self.webhooks:
            if not url.startswith(("http://", "https://")):
                raise StreamsError(f"webhook {url!r} is not an http(s) URL")
        if self.webhooks and self.webhook_secret is None:
            raise StreamsError(
                "webhooks need a shared secret to sign with: set PRIVTRAIL_WORKER_WEBHOOK_SECRET"
            )

    # Internal topics: named after the app so two worker apps on one cluster never share.
    @property
    def actors_topic(self) -> str:
        """Valid events re-keyed by actor (feeds the actor table)."""
        return f"{self.app_id}-actors"

    @property
    def subjects_topic(self) -> str:
        """Valid events re-keyed by subject, for those that did not arrive on their
        subject's partition (feeds the enforce agent)."""
        return f"{self.app_id}-subject-events"

    @property
    def ticks_topic(self) -> str:
        """Deadline ticks, one per due subject, on that subject's partition."""
        return f"{self.app_id}-deadline-ticks"

    def resolved_web_port(self) -> int:
        return self.web_port or free_port(self.web_host)

    def with_overrides(self, **overrides: Any) -> WorkerSettings:
        """A copy with ``overrides`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        fallback_bootstrap: Callable[[], str] | None = None,
        **overrides: Any,
    ) -> WorkerSettings:
        """Read the environment; keyword ``overrides`` (not ``None``) win over it.

        ``fallback_bootstrap`` supplies the servers when neither names them (the CLI
        passes the local stack's broker).
        """
        source = os.environ if env is None else env
        values: dict[str, Any] = {
            "topics": Topics(
                events=source.get("PRIVTRAIL_TOPIC_EVENTS", Topics.events),
                valid=source.get("PRIVTRAIL_TOPIC_VALID", Topics.valid),
                dlq=source.get("PRIVTRAIL_TOPIC_DLQ", Topics.dlq),
                alerts=source.get("PRIVTRAIL_TOPIC_ALERTS", Topics.alerts),
            )
        }
        for name, var in ENV.items():
            raw = source.get(var)
            if raw is None or raw == "":
                continue
            values[name] = _convert(name, var, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values.get("bootstrap"):
            values["bootstrap"] = fallback_bootstrap() if fallback_bootstrap else ""
        return cls(**values)


def _convert(name: str, var: str, raw: str) -> Any:
    try:
        if name in ("partitions", "web_port"):
            return int(raw)
        if name in ("clock_offset", "deadline_interval", "deadline_lateness", "fetch_max_wait"):
            return float(raw)
    except ValueError as exc:
        raise StreamsError(f"{var}={raw!r} is not a number") from exc
    if name == "webhooks":
        return tuple(u.strip() for u in raw.split(",") if u.strip())
    if name == "webhook_secret":
        return SecretStr(raw)
    if name in ("data_dir", "policy_path"):
        return Path(raw).expanduser()
    return raw
