"""privtrail: an event-sourced privacy audit log.

The public API. Names load lazily so that ``import privtrail`` stays cheap for a service
that only needs the SDK, and ``privtrail check`` never imports Kafka clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from privtrail.lazy import lazy_getattr

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

if TYPE_CHECKING:  # the names as type checkers and IDEs should see them
    from privtrail.alerts import (
        Alert as Alert,
    )
    from privtrail.engine import (
        Engine as Engine,
    )
    from privtrail.errors import (
        ContractError as ContractError,
    )
    from privtrail.errors import (
        PolicyError as PolicyError,
    )
    from privtrail.errors import (
        PrivtrailError as PrivtrailError,
    )
    from privtrail.errors import (
        WireError as WireError,
    )
    from privtrail.events import (
        Event as Event,
    )
    from privtrail.events import (
        parse_event as parse_event,
    )
    from privtrail.events import (
        parse_event_json as parse_event_json,
    )
    from privtrail.policy import (
        Policy as Policy,
    )
    from privtrail.policy import (
        default_policy as default_policy,
    )
    from privtrail.policy import (
        load_policy as load_policy,
    )
    from privtrail.sdk import (
        AsyncAuditClient as AsyncAuditClient,
    )
    from privtrail.sdk import (
        AuditClient as AuditClient,
    )
    from privtrail.sdk import (
        staff as staff,
    )
    from privtrail.sdk import (
        subject_actor as subject_actor,
    )
    from privtrail.sdk import (
        system as system,
    )
    from privtrail.sdk import (
        third_party as third_party,
    )
    from privtrail.wire import (
        decode_event as decode_event,
    )
    from privtrail.wire import (
        encode_event as encode_event,
    )


__getattr__ = lazy_getattr("privtrail", _EXPORTS, globals())
