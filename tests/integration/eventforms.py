"""JSON-form events for the worker's integration tests, built one second apart."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from privtrail.bench.workload import number_letters

OFFICER = {"kind": "staff", "id": "privacy-officer-1", "role": "privacy_officer"}
SUPPORT_DESK = {"kind": "service", "id": "support-desk"}


def collected(subject: str) -> dict[str, Any]:
    """The support desk collecting a subject's e-mail and name for user management."""
    return {
        "type": "collected",
        "subject_id": subject,
        "context": "tech_support",
        "method": "inquiry_board",
        "items": ["email", "contact_name"],
        "purposes": ["user_management"],
    }


class FormLog:
    """Events in time order from ``t0``, one second apart, ids ``<prefix>-<letters>``."""

    def __init__(self, prefix: str, t0: datetime) -> None:
        self.prefix = prefix
        self.t0 = t0
        self.forms: list[dict[str, Any]] = []

    def add(self, body: dict[str, Any], actor: dict[str, Any]) -> None:
        n = len(self.forms)
        self.forms.append(
            {
                "event_id": f"{self.prefix}-{number_letters(n)}",
                "source": {"service": "support-desk"},
                "occurred_at": (self.t0 + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "actor": actor,
                **body,
            }
        )
