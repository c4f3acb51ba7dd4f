"""The rule catalogue: every rule's name and severity, and the one way to build an alert.

Severities are ours (issue 3 leaves them open); docs/rules.md argues each one. The
order of :data:`RULES` is the order in which one event's alerts are returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from privtrail.alerts import Alert, Severity

UNKNOWN_TERM = "UNKNOWN_TERM"
OVER_COLLECTION = "OVER_COLLECTION"
UNDECLARED_PURPOSE = "UNDECLARED_PURPOSE"
OPTED_OUT_COLLECTION = "OPTED_OUT_COLLECTION"
NOT_COLLECTED = "NOT_COLLECTED"
PURPOSE_VIOLATION = "PURPOSE_VIOLATION"
MARKETING_WITHOUT_CONSENT = "MARKETING_WITHOUT_CONSENT"
DISCLOSURE_WITHOUT_BASIS = "DISCLOSURE_WITHOUT_BASIS"
UNAUTHORIZED_PROCESSOR = "UNAUTHORIZED_PROCESSOR"
IDENTIFIABLE_STATISTICS = "IDENTIFIABLE_STATISTICS"
USE_DURING_CORRECTION = "USE_DURING_CORRECTION"
USE_AFTER_DESTRUCTION = "USE_AFTER_DESTRUCTION"
ARCHIVE_MISUSE = "ARCHIVE_MISUSE"
USE_AFTER_WITHDRAWAL = "USE_AFTER_WITHDRAWAL"
DOWNLOAD_WITHOUT_REASON = "DOWNLOAD_WITHOUT_REASON"
ACCESS_UNVERIFIED = "ACCESS_UNVERIFIED"
CORRECTION_OVERDUE = "CORRECTION_OVERDUE"
CORRECTION_NOT_PROPAGATED = "CORRECTION_NOT_PROPAGATED"
ACCESS_OVERDUE = "ACCESS_OVERDUE"
DESTRUCTION_OVERDUE = "DESTRUCTION_OVERDUE"
UNAUTHORIZED_HANDLER = "UNAUTHORIZED_HANDLER"
BULK_ACCESS = "BULK_ACCESS"
NOTICE_PERIOD_SHORT = "NOTICE_PERIOD_SHORT"

RULES: dict[str, Severity] = {
    UNKNOWN_TERM: "medium",
    OVER_COLLECTION: "high",
    UNDECLARED_PURPOSE: "high",
    OPTED_OUT_COLLECTION: "high",
    NOT_COLLECTED: "high",
    PURPOSE_VIOLATION: "high",
    MARKETING_WITHOUT_CONSENT: "high",
    DISCLOSURE_WITHOUT_BASIS: "critical",
    UNAUTHORIZED_PROCESSOR: "critical",
    IDENTIFIABLE_STATISTICS: "critical",
    USE_DURING_CORRECTION: "medium",
    USE_AFTER_DESTRUCTION: "critical",
    ARCHIVE_MISUSE: "high",
    USE_AFTER_WITHDRAWAL: "high",
    DOWNLOAD_WITHOUT_REASON: "medium",
    ACCESS_UNVERIFIED: "high",
    CORRECTION_OVERDUE: "medium",
    CORRECTION_NOT_PROPAGATED: "medium",
    ACCESS_OVERDUE: "medium",
    DESTRUCTION_OVERDUE: "high",
    UNAUTHORIZED_HANDLER: "high",
    BULK_ACCESS: "high",
    NOTICE_PERIOD_SHORT: "medium",
}
"""Rule name -> severity, in the order alerts of one event are returned."""

DEADLINE_RULES = frozenset(
    {CORRECTION_OVERDUE, CORRECTION_NOT_PROPAGATED, ACCESS_OVERDUE, DESTRUCTION_OVERDUE}
)

# Vocabulary ids the rules themselves name (fixed by issue 3 §2/§3, not policy-tunable).
MARKETING = "marketing"
ANALYTICS = "analytics"

STAFF_ACTIONS = frozenset(
    {"collected", "used", "disclosed", "corrected", "archived", "destroyed", "access_fulfilled"}
)
"""Event types that are a handler's act on personal data (UNAUTHORIZED_HANDLER)."""


def terms(values: Any) -> str:
    """``'a', 'b'`` for a message: terms are quoted so they read as ids, not prose."""
    return ", ".join(f"'{v}'" for v in values)


def make_alert(
    rule: str,
    *,
    event_id: str,
    subject_id: str | None,
    occurred_at: datetime,
    policy_version: str,
    actor_id: str | None,
    message: str,
    evidence: dict[str, Any],
) -> Alert:
    """An :class:`Alert` with the catalogue's severity for ``rule``."""
    return Alert(
        rule=rule,
        event_id=event_id,
        subject_id=subject_id,
        severity=RULES[rule],
        message=message,
        occurred_at=occurred_at,
        policy_version=policy_version,
        actor_id=actor_id,
        evidence=evidence,
    )
