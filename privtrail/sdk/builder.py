"""Call-site validation: build the typed event, check its vocabulary, encode it.

Everything here runs in the caller's thread, before anything is queued, so a bad event
raises where it was written. The verdict on vocabulary is the policy's own
``unknown_terms`` (the same one the stream engine uses), so the SDK and the engine agree.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from privtrail.errors import ContractError
from privtrail.events import EVENT_CLASSES, Actor, BaseEvent, Source, contract_error
from privtrail.sdk.errors import UnknownTermError
from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.pseudonym import Pseudonym, Pseudonymiser, letters

log = logging.getLogger("privtrail.sdk")

OnInvalid = Literal["raise", "warn"]
Subject = str | Pseudonym
"""A raw subject identifier (pseudonymised by the SDK) or a ready :class:`Pseudonym`."""

# Stands for "the subject of this event"; replaced by the subject's pseudonym when built.
_SUBJECT_ID = "$subject"


class VocabularyPolicy(Protocol):
    """What the SDK needs of a policy: the terms of an event it does not define."""

    def unknown_terms(self, event: Any) -> list[str]: ...


def _actor(**fields: Any) -> Actor:
    try:
        return Actor(**fields)
    except ValidationError as exc:
        err = contract_error(exc)
        raise ContractError(f"actor.{err.field}", err.reason) from exc


def staff(id: str, role: str | None = None, ip: str | None = None) -> Actor:
    """A staff member as actor; ``id`` is a staff pseudonym or handle, never a name."""
    return _actor(kind="staff", id=id, role=role, ip=ip)


def subject_actor() -> Actor:
    """The data subject themself as actor (the event's subject pseudonym becomes the id)."""
    return _actor(kind="subject", id=_SUBJECT_ID)


def system(id: str = "system") -> Actor:
    """An automated system process (retention jobs, schedulers) as actor."""
    return _actor(kind="system", id=id)


def third_party(id: str) -> Actor:
    """A third party (a recipient organisation, by its vocabulary id) as actor."""
    return _actor(kind="third_party", id=id)


def new_event_id() -> str:
    """``ev_`` + a UUIDv7 layout (48-bit Unix ms, version 7, 74 random bits) in 32 letters.

    Time-ordered, so ClickHouse's primary index and Kafka logs stay readable. Written with
    :func:`~privtrail.sdk.pseudonym.letters` rather than the usual hex-and-dashes: the
    contract refuses a run of 8+ digits split by dashes as a phone number, and random UUIDs
    often contain one (see docs/sdk.md).
    """
    rand = bytearray(os.urandom(10))
    rand[0] = 0x70 | (rand[0] & 0x0F)  # version 7
    rand[2] = 0x80 | (rand[2] & 0x3F)  # RFC 4122 variant
    ms = time.time_ns() // 1_000_000
    return "ev_" + letters(ms.to_bytes(6, "big") + bytes(rand))


def kafka_key(event: BaseEvent) -> bytes | None:
    """The record key: the subject pseudonym, so one subject's events share a partition.

    No-subject types are keyed by what orders them: the handler, or the policy version.
    """
    if event.subject_id is not None:
        return event.subject_id.encode()
    handler = getattr(event, "handler_id", None)
    if isinstance(handler, str):
        return handler.encode()
    return event.policy_version.encode() if event.policy_version else None


@dataclass(frozen=True, slots=True)
class EventBuilder:
    """Turns method arguments into a checked, encoded event for one emitting service."""

    source: Source
    pseudonymiser: Pseudonymiser
    policy: VocabularyPolicy
    metrics: SdkMetrics
    encoder: Callable[[Any], bytes]
    on_invalid: OnInvalid = "raise"

    service_actor: Actor = field(init=False, repr=False, compare=False)
    """The default actor, the emitting service: validated once (models are immutable)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "service_actor", Actor(kind="service", id=self.source.service))

    def build(
        self,
        event_type: str,
        subject: Subject | None,
        fields: dict[str, Any],
        *,
        actor: Actor | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        policy_version: str | None = None,
    ) -> BaseEvent:
        """The typed event, or :class:`ContractError` naming the first bad field."""
        cls = EVENT_CLASSES[event_type]
        data: dict[str, Any] = {
            "event_id": new_event_id() if event_id is None else event_id,
            "occurred_at": datetime.now(UTC) if occurred_at is None else occurred_at,
            "source": self.source,
            "actor": self.service_actor if actor is None else actor,
            **fields,
        }
        if policy_version is not None:
            data["policy_version"] = policy_version
        if subject is not None:
            if isinstance(subject, Pseudonym):
                value, key_id = subject.value, subject.key_id
            else:
                try:
                    # the string alone: no Pseudonym object per call on the hot path
                    value = self.pseudonymiser.pseudonym(subject)
                except ContractError:
                    self.metrics.refused("contract")
                    raise
                key_id = self.pseudonymiser.key_id
            data["subject_id"] = value
            data["subject_key_id"] = key_id
            if data["actor"].kind == "subject" and data["actor"].id == _SUBJECT_ID:
                data["actor"] = data["actor"].model_copy(update={"id": value})
        elif cls.HAS_SUBJECT:
            self.metrics.refused("contract")
            raise ContractError("subject_id", "required for this event type")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            self.metrics.refused("contract")
            raise contract_error(exc) from exc

    def check(self, event: BaseEvent) -> None:
        """Refuse (or, with ``on_invalid="warn"``, log) terms outside the vocabulary."""
        if event.actor.id == _SUBJECT_ID:
            self.metrics.refused("contract")
            raise ContractError("actor.id", "subject_actor() needs an event with a subject")
        unknown = self.policy.unknown_terms(event)
        if not unknown:
            return
        if self.on_invalid == "raise":
            self.metrics.refused("vocabulary")
            raise UnknownTermError(event.type, unknown)  # type: ignore[attr-defined]
        log.warning(
            "privtrail event %s (%s) uses terms outside the policy vocabulary: %s; sent anyway",
            event.event_id,
            event.type,  # type: ignore[attr-defined]
            ", ".join(unknown),
        )

    def encode(self, event: BaseEvent) -> tuple[bytes | None, bytes]:
        return kafka_key(event), self.encoder(event)
