"""Settings shared by every part: where state lives, topic names, endpoints.

Each part reads its own environment variables in one settings module: these shared ones
here; the SDK's in :mod:`privtrail.sdk.settings`; the local stack's in
:mod:`privtrail.stack.settings`; the worker's in :mod:`privtrail.streams.settings`; the
sink's in :mod:`privtrail.sinks.settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def privtrail_home() -> Path:
    """``$PRIVTRAIL_HOME`` (default ``~/.privtrail``): jars, data, logs and pid files."""
    return Path(os.environ.get("PRIVTRAIL_HOME") or Path.home() / ".privtrail").expanduser()


@dataclass(frozen=True)
class Topics:
    """Kafka topic names (configurable through ``PRIVTRAIL_TOPIC_*``)."""

    events: str = "privacy.events"
    valid: str = "privacy.events.valid"
    dlq: str = "privacy.events.dlq"
    alerts: str = "privacy.alerts"

    @classmethod
    def from_env(cls) -> Topics:
        env, default = os.environ, cls()
        return cls(
            events=env.get("PRIVTRAIL_TOPIC_EVENTS", default.events),
            valid=env.get("PRIVTRAIL_TOPIC_VALID", default.valid),
            dlq=env.get("PRIVTRAIL_TOPIC_DLQ", default.dlq),
            alerts=env.get("PRIVTRAIL_TOPIC_ALERTS", default.alerts),
        )
