"""The policy's declarations as query parameters (the ``[policy]`` parameters).

The SQL hard-codes no vocabulary: which recipients are processors, which purposes and
items are declared, retention periods and deadlines all come from the policy file, through
this one mapping.
"""

from __future__ import annotations

from typing import Any

from privtrail.policy import Duration, Policy
from privtrail.queries.errors import QueryError


def _days(what: str, duration: Duration) -> int:
    if duration.is_calendar or duration.seconds:
        raise QueryError(f"policy {what} {duration} must be whole days for the queries")
    return duration.days


def _months(item: str, duration: Duration) -> int:
    if duration.days or duration.seconds:
        raise QueryError(f"policy retention of {item} ({duration}) must be whole months or years")
    return duration.years * 12 + duration.months


def policy_parameters(policy: Policy) -> dict[str, Any]:
    """Every ``[policy]`` parameter any query declares, from ``policy``."""
    retention = sorted(policy.retention.items())
    return {
        "processors": sorted(policy.processors),
        "declared_purposes": list(policy.purposes),
        "declared_items": sorted(
            {
                (purpose, item)
                for ctx in policy.contexts.values()
                for purpose in ctx.purposes
                for item in ctx.items
            }
        ),
        "entrusted": sorted(
            {
                (name, purpose)
                for name, spec in policy.processors.items()
                for purpose in spec.purposes
            }
        ),
        "retention_items": [item for item, _ in retention],
        "retention_months": [_months(item, period) for item, period in retention],
        "grace_days": _days("destruction grace", policy.destruction.grace),
        "access_days": _days("access deadline", policy.rights.access),
        "correction_days": _days("correction deadline", policy.rights.correction),
        "notify_days": _days("notify deadline", policy.rights.notify_recipients),
    }
