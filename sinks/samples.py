"""Synthetic events for the sink's tests and benchmark: pseudonyms and categories only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from privtrail.events import (
    Actor,
    BaseEvent,
    Collected,
    ConsentGiven,
    Disclosed,
    PolicyPublished,
    Source,
    Used,
)

_ITEMS = ("contact:email", "contact:phone", "identity:name", "health:diagnosis", "payment:card")
_BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _ident(n: int) -> str:
    # Never eight digits in a row: the contract would take that for a phone number.
    return f"{n // 10000}x{n % 10000:04d}"


def sample_events(count: int, *, prefix: str = "ev", start: int = 0) -> Iterator[BaseEvent]:
    """``count`` valid events of several types, deterministic for a given ``prefix``/``start``."""
    for n in range(start, start + count):
        common = {
            "event_id": f"{prefix}-{_ident(n)}",
            # Spread over two months so inserts cross a partition boundary.
            "occurred_at": _BASE + timedelta(seconds=n * 97, microseconds=n % 1000),
            "source": Source(service="crm", instance=f"pod-{n % 3}"),
            "actor": Actor(kind="staff", id=f"staff-{n % 50:04d}", role="agent"),
            "subject_key_id": "k1",
        }
        subject = f"subj-{n % 1000:06d}"
        kind = n % 10
        event: BaseEvent
        if kind == 9:
            event = PolicyPublished(
                **{
                    **common,
                    "actor": Actor(kind="system", id="policy-bot"),
                    "subject_key_id": None,
                },
                policy_version=f"2026.{n % 12 + 1}",
                announced_at=_BASE,
                effective_at=_BASE + timedelta(days=30),
                significant=n % 2 == 0,
            )
        elif kind == 8:
            event = ConsentGiven(**common, subject_id=subject, scope="marketing")
        elif kind in (6, 7):
            event = Disclosed(
                **common,
                subject_id=subject,
                items=[_ITEMS[n % 5]],
                recipient="courier",
                purpose="delivery",
                basis="contract",
                legal_reference="art-17",
            )
        elif kind == 5:
            event = Collected(
                **common,
                subject_id=subject,
                items=list(_ITEMS[:2]),
                context="signup",
                method="web_form",
                purposes=["service", "marketing"],
            )
        else:
            event = Used(
                **common,
                subject_id=subject,
                items=[_ITEMS[n % 5], _ITEMS[(n + 1) % 5]],
                purpose="support",
                operation="view",
                request_id=f"req-{_ident(n)}",
            )
        yield event
