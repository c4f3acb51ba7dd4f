"""privtrail: an event-sourced privacy audit log.

The public API. Names load lazily so that ``import privtrail`` stays cheap for a service
that only needs the SDK, and ``privtrail check`` never imports Kafka clients.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # the SDK
    "AuditClient": "privtrail.sdk",
    "AsyncAuditClient": "privtrail.sdk",
    "staff": "privtrail.sdk",
    "subject_actor": "privtrail.sdk",
    "system": "privtrail.sdk",
    "third_party": "privtrail.sdk",
    # the event contract
    "Event": "privtrail.events",
    "parse_event": "privtrail.events",
    "parse_event_json": "privtrail.events",
    "Alert": "privtrail.alerts",
    # policy and engine
    "Policy": "privtrail.policy",
    "load_policy": "privtrail.policy",
    "default_policy": "privtrail.policy",
    "Engine": "privtrail.engine",
    # wire format
    "encode_event": "privtrail.wire",
    "decode_event": "privtrail.wire",
    # errors
    "PrivtrailError": "privtrail.errors",
    "ContractError": "privtrail.errors",
    "PolicyError": "privtrail.errors",
    "WireError": "privtrail.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from privtrail.alerts import Alert
    from privtrail.engine import Engine
    from privtrail.errors import ContractError, PolicyError, PrivtrailError, WireError
    from privtrail.events import Event, parse_event, parse_event_json
    from privtrail.policy import Policy, default_policy, load_policy
    from privtrail.sdk import AsyncAuditClient, AuditClient, staff, subject_actor, system, third_party
    from privtrail.wire import decode_event, encode_event


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'privtrail' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
