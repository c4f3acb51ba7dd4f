"""Alerts: what the rule engine raises. Plain frozen dataclasses (the engine's hot path)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from privtrail.events import format_timestamp

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


def alert_id(rule: str, event_id: str, recipient: str | None = None) -> str:
    """Deterministic id from (rule, event_id[, recipient]): a re-raised alert is recognisable."""
    key = f"{rule}\x1f{event_id}\x1f{recipient or ''}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Alert:
    """One violation of one rule by one event.

    ``event_id`` names the event that raised it, or for deadline rules the event that
    started the clock. ``occurred_at`` is when that event happened. ``evidence`` holds
    JSON-compatible values only (strings, numbers, booleans, lists of strings).
    """

    rule: str
    event_id: str
    subject_id: str | None
    severity: Severity
    message: str
    occurred_at: datetime
    policy_version: str
    actor_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        return alert_id(self.rule, self.event_id, self.evidence.get("recipient"))

    def to_json(self) -> dict[str, Any]:
        """The JSON form printed by ``privtrail check`` and stored in ClickHouse."""
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "event_id": self.event_id,
            "subject_id": self.subject_id,
            "actor_id": self.actor_id,
            "severity": self.severity,
            "message": self.message,
            "occurred_at": format_timestamp(self.occurred_at),
            "policy_version": self.policy_version,
            "evidence": self.evidence,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        from privtrail.events import _utc  # one parser of timestamps

        occurred = datetime.fromisoformat(str(data["occurred_at"]).replace("Z", "+00:00"))
        return cls(
            rule=data["rule"],
            event_id=data["event_id"],
            subject_id=data.get("subject_id"),
            severity=data["severity"],
            message=data["message"],
            occurred_at=_utc(occurred),
            policy_version=data["policy_version"],
            actor_id=data.get("actor_id"),
            evidence=dict(data.get("evidence") or {}),
        )
