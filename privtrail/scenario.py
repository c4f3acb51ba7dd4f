"""A scripted COLABOX history: a week at a small B2B software company's support desk.

Used by ``privtrail demo``, by the end-to-end tests (the stream must raise exactly what
``privtrail check`` raises on these events) and by the investigation tests. Subjects and
staff are pseudonyms; no personal value appears anywhere.

Every event is in JSON form. ``start`` anchors the clock so the demo can run "now" and the
tests can run in a fixed past.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from privtrail.events import format_timestamp

# Subject roles: A asks about the product; B opens a support ticket, asks for a correction
# and for access; C signs up and withdraws. Their pseudonyms carry the run's prefix, so a
# second run starts from clean subjects.
AGENT = "agent-7"  # authorised support agent
INTRUDER = "agent-9"  # staff account with no handler authorisation


def scenario_subjects(prefix: str) -> tuple[str, str, str]:
    """The pseudonyms of subjects A, B and C in the run named ``prefix``."""
    return (f"ps_{prefix}_a", f"ps_{prefix}_b", f"ps_{prefix}_c")


def colabox_scenario(start: datetime, *, prefix: str = "demo") -> list[dict[str, Any]]:
    """The scenario's events in time order; ids are ``{prefix}-NNN``."""
    events: list[dict[str, Any]] = []
    SUBJECT_A, SUBJECT_B, SUBJECT_C = scenario_subjects(prefix)  # noqa: N806

    def add(
        minutes: float,
        body: dict[str, Any],
        *,
        actor: dict[str, Any] | None = None,
        service: str = "support-desk",
    ) -> None:
        n = len(events) + 1
        events.append(
            {
                "event_id": f"{prefix}-{n:03d}",
                "occurred_at": format_timestamp(start + timedelta(minutes=minutes)),
                "source": {"service": service},
                "actor": actor or {"kind": "service", "id": service},
                **body,
            }
        )

    admin = {"kind": "staff", "id": "privacy-officer-1", "role": "privacy_officer"}
    agent = {"kind": "staff", "id": AGENT, "role": "support_agent", "ip": "10.0.0.7"}
    intruder = {"kind": "staff", "id": INTRUDER, "role": "support_agent", "ip": "10.0.0.9"}

    add(
        0,
        {"type": "handler_authorized", "handler_id": AGENT, "role": "support_agent"},
        actor=admin,
        service="admin-console",
    )
    # Subject A asks about the product through the inquiry board.
    add(
        1,
        {
            "type": "collected",
            "subject_id": SUBJECT_A,
            "context": "product_inquiry",
            "method": "inquiry_board",
            "items": ["company_name", "contact_name", "phone", "email"],
            "purposes": ["user_management", "contract_performance"],
        },
        service="web-inquiry",
    )
    add(
        2,
        {
            "type": "used",
            "subject_id": SUBJECT_A,
            "items": ["phone"],
            "purpose": "user_management",
            "operation": "view",
        },
        actor=agent,
    )
    # A staff account with no authorisation reads the same record.
    add(
        3,
        {
            "type": "used",
            "subject_id": SUBJECT_A,
            "items": ["email"],
            "purpose": "user_management",
            "operation": "view",
        },
        actor=intruder,
    )
    # Marketing mails subject A, who never agreed to marketing: purpose and consent violated.
    add(
        4,
        {
            "type": "disclosed",
            "subject_id": SUBJECT_A,
            "items": ["email"],
            "recipient": "benchmark_email",
            "purpose": "marketing",
            "basis": "entrustment",
        },
        service="mailer",
    )
    # Subject B opens a support ticket.
    add(
        5,
        {
            "type": "collected",
            "subject_id": SUBJECT_B,
            "context": "tech_support",
            "method": "inquiry_board",
            "items": ["email", "contact_name", "user_id"],
            "purposes": ["user_management", "service_improvement"],
        },
        service="support-desk",
    )
    add(
        6,
        {
            "type": "disclosed",
            "subject_id": SUBJECT_B,
            "items": ["email", "user_id"],
            "recipient": "lguplus",
            "purpose": "user_management",
            "basis": "entrustment",
        },
    )
    add(
        7,
        {
            "type": "correction_requested",
            "subject_id": SUBJECT_B,
            "request_id": "corr-1",
            "items": ["email"],
        },
        actor={"kind": "subject", "id": SUBJECT_B},
    )
    # The desk keeps using the disputed e-mail while the correction is open.
    add(
        8,
        {
            "type": "used",
            "subject_id": SUBJECT_B,
            "items": ["email"],
            "purpose": "user_management",
            "operation": "view",
        },
        actor=agent,
    )
    add(
        9,
        {
            "type": "used",
            "subject_id": SUBJECT_B,
            "items": ["user_id"],
            "purpose": "user_management",
            "operation": "download",
        },
        actor=agent,
    )
    add(10, {"type": "corrected", "subject_id": SUBJECT_B, "request_id": "corr-1"}, actor=agent)
    add(
        11,
        {
            "type": "access_requested",
            "subject_id": SUBJECT_B,
            "request_id": "acc-1",
            "channel": "email",
        },
        actor={"kind": "subject", "id": SUBJECT_B},
    )
    add(
        12,
        {"type": "access_fulfilled", "subject_id": SUBJECT_B, "request_id": "acc-1"},
        actor=agent,
    )
    # A partner asks for subject B's phone on the strength of a consent nobody gave.
    add(
        13,
        {
            "type": "disclosed",
            "subject_id": SUBJECT_B,
            "items": ["phone"],
            "recipient": "ad_partner",
            "purpose": "marketing",
            "basis": "consent",
        },
        service="partner-gateway",
    )
    # Subject C signs up through service use, then withdraws; a billing job runs later anyway.
    add(
        14,
        {
            "type": "collected",
            "subject_id": SUBJECT_C,
            "context": "service_use",
            "method": "service_use",
            "items": ["user_id", "service_usage_record"],
            "purposes": ["contract_performance", "service_improvement"],
        },
        service="colabox-app",
    )
    add(
        15,
        {"type": "withdrawal_requested", "subject_id": SUBJECT_C},
        actor={"kind": "subject", "id": SUBJECT_C},
    )
    add(
        16,
        {
            "type": "used",
            "subject_id": SUBJECT_C,
            "items": ["user_id"],
            "purpose": "contract_performance",
            "operation": "process",
        },
        service="billing",
    )
    add(
        17,
        {
            "type": "policy_published",
            "policy_version": f"{prefix}-2",
            "announced_at": format_timestamp(start),
            "effective_at": format_timestamp(start + timedelta(days=3)),
            "significant": True,
        },
        actor=admin,
        service="admin-console",
    )
    return events
