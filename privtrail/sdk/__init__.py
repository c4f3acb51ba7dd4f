"""The privtrail SDK: services emit audit events that are validated at the call site,
pseudonymised, sent asynchronously to Kafka, and spooled to disk when Kafka is away.

See ``docs/sdk.md``.
"""

from privtrail.sdk.aio import AsyncAuditClient
from privtrail.sdk.builder import new_event_id, staff, subject_actor, system, third_party
from privtrail.sdk.client import AuditClient
from privtrail.sdk.errors import (
    ClientClosedError,
    SdkConfigError,
    SdkError,
    SpoolFullError,
    SpoolLockedError,
    UnknownTermError,
)
from privtrail.sdk.pseudonym import Pseudonym, Pseudonymiser
from privtrail.sdk.settings import DeliveryOptions, SdkSettings

__all__ = [
    "AsyncAuditClient",
    "AuditClient",
    "ClientClosedError",
    "DeliveryOptions",
    "Pseudonym",
    "Pseudonymiser",
    "SdkConfigError",
    "SdkError",
    "SdkSettings",
    "SpoolFullError",
    "SpoolLockedError",
    "UnknownTermError",
    "new_event_id",
    "staff",
    "subject_actor",
    "system",
    "third_party",
]
