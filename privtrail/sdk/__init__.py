"""The privtrail SDK: services emit audit events that are validated at the call site,
pseudonymised, appended to a durable spool and sent to Kafka.

See ``docs/sdk.md``. Names load lazily, as in the top-level package: the shipper process
(:mod:`privtrail.sdk.shipper`) imports only the spool and the producer, not the client,
the contract and the policy (about 16 MiB less for each service that runs one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from privtrail.lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "AsyncAuditClient": "privtrail.sdk.aio",
    "AuditClient": "privtrail.sdk.client",
    "ClientClosedError": "privtrail.sdk.errors",
    "DeliveryOptions": "privtrail.sdk.settings",
    "Pseudonym": "privtrail.sdk.pseudonym",
    "Pseudonymiser": "privtrail.sdk.pseudonym",
    "SdkConfigError": "privtrail.sdk.errors",
    "SdkError": "privtrail.sdk.errors",
    "SdkSettings": "privtrail.sdk.settings",
    "SpoolFullError": "privtrail.sdk.errors",
    "SpoolLockedError": "privtrail.sdk.errors",
    "UnknownTermError": "privtrail.sdk.errors",
    "new_event_id": "privtrail.sdk.builder",
    "staff": "privtrail.sdk.builder",
    "subject_actor": "privtrail.sdk.builder",
    "system": "privtrail.sdk.builder",
    "third_party": "privtrail.sdk.builder",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # the names as type checkers and IDEs should see them
    from privtrail.sdk.aio import AsyncAuditClient as AsyncAuditClient
    from privtrail.sdk.builder import new_event_id as new_event_id
    from privtrail.sdk.builder import staff as staff
    from privtrail.sdk.builder import subject_actor as subject_actor
    from privtrail.sdk.builder import system as system
    from privtrail.sdk.builder import third_party as third_party
    from privtrail.sdk.client import AuditClient as AuditClient
    from privtrail.sdk.errors import ClientClosedError as ClientClosedError
    from privtrail.sdk.errors import SdkConfigError as SdkConfigError
    from privtrail.sdk.errors import SdkError as SdkError
    from privtrail.sdk.errors import SpoolFullError as SpoolFullError
    from privtrail.sdk.errors import SpoolLockedError as SpoolLockedError
    from privtrail.sdk.errors import UnknownTermError as UnknownTermError
    from privtrail.sdk.pseudonym import Pseudonym as Pseudonym
    from privtrail.sdk.pseudonym import Pseudonymiser as Pseudonymiser
    from privtrail.sdk.settings import DeliveryOptions as DeliveryOptions
    from privtrail.sdk.settings import SdkSettings as SdkSettings


__getattr__ = lazy_getattr("privtrail.sdk", _EXPORTS, globals())
