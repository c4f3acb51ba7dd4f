"""One typed method per event type, written once for both clients.

:class:`EventMethods` is generic in what a call returns: the blocking client returns the
``event_id`` (``str``), the asyncio client an awaitable of it. Each method only names its
fields; the client's ``_record`` does the work. Keyword names are the JSON form's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack

from privtrail.events import Actor
from privtrail.sdk.builder import Subject

R = TypeVar("R")


class _Base(TypedDict, total=False):
    """Keywords every method accepts."""

    actor: Actor
    """Who did it; default: the emitting service (``Actor(kind="service", id=service)``)."""
    event_id: str
    """Idempotency key; default: a new time-ordered UUID."""
    occurred_at: datetime
    """When it happened (timezone-aware); default: now, UTC."""


class Common(_Base, total=False):
    """Keywords every method accepts (``policy_published`` takes the version itself)."""

    policy_version: str
    """Policy version in force; default: left to the engine."""


class EventMethods(Generic[R]):
    """The per-type methods. Subclasses implement :meth:`_record`."""

    def _record(
        self,
        event_type: str,
        subject: Subject | None,
        fields: dict[str, Any],
        common: Mapping[str, Any],
    ) -> R:
        raise NotImplementedError

    def collected(
        self,
        subject: Subject,
        *,
        items: Sequence[str],
        context: str,
        method: str,
        purposes: Sequence[str],
        **common: Unpack[Common],
    ) -> R:
        """Personal data items were collected from the subject."""
        fields = {"items": items, "context": context, "method": method, "purposes": purposes}
        return self._record("collected", subject, fields, common)

    def used(
        self,
        subject: Subject,
        *,
        items: Sequence[str],
        purpose: str,
        operation: str,
        reason: str | None = None,
        request_id: str | None = None,
        **common: Unpack[Common],
    ) -> R:
        """Items were used (viewed, exported, ...) for a purpose."""
        fields = {"items": items, "purpose": purpose, "operation": operation}
        _opt(fields, reason=reason, request_id=request_id)
        return self._record("used", subject, fields, common)

    def disclosed(
        self,
        subject: Subject,
        *,
        items: Sequence[str],
        recipient: str,
        purpose: str,
        basis: str,
        legal_reference: str | None = None,
        **common: Unpack[Common],
    ) -> R:
        """Items were disclosed to a recipient on a legal basis."""
        fields = {"items": items, "recipient": recipient, "purpose": purpose, "basis": basis}
        _opt(fields, legal_reference=legal_reference)
        return self._record("disclosed", subject, fields, common)

    def consent_given(self, subject: Subject, *, scope: str, **common: Unpack[Common]) -> R:
        """The subject gave consent for a scope."""
        return self._record("consent_given", subject, {"scope": scope}, common)

    def consent_withdrawn(self, subject: Subject, *, scope: str, **common: Unpack[Common]) -> R:
        """The subject withdrew consent for a scope."""
        return self._record("consent_withdrawn", subject, {"scope": scope}, common)

    def correction_requested(
        self,
        subject: Subject,
        *,
        request_id: str,
        items: Sequence[str],
        **common: Unpack[Common],
    ) -> R:
        """The subject asked for items to be corrected."""
        fields = {"request_id": request_id, "items": items}
        return self._record("correction_requested", subject, fields, common)

    def corrected(self, subject: Subject, *, request_id: str, **common: Unpack[Common]) -> R:
        """A correction request was carried out."""
        return self._record("corrected", subject, {"request_id": request_id}, common)

    def recipient_notified(
        self, subject: Subject, *, request_id: str, recipient: str, **common: Unpack[Common]
    ) -> R:
        """A recipient was told about a correction."""
        fields = {"request_id": request_id, "recipient": recipient}
        return self._record("recipient_notified", subject, fields, common)

    def access_requested(
        self, subject: Subject, *, request_id: str, channel: str, **common: Unpack[Common]
    ) -> R:
        """The subject asked for access to their data."""
        fields = {"request_id": request_id, "channel": channel}
        return self._record("access_requested", subject, fields, common)

    def identity_verified(
        self,
        subject: Subject,
        *,
        request_id: str,
        verified_as: Literal["self", "legal_representative"],
        **common: Unpack[Common],
    ) -> R:
        """The requester's identity was verified."""
        fields = {"request_id": request_id, "verified_as": verified_as}
        return self._record("identity_verified", subject, fields, common)

    def access_fulfilled(self, subject: Subject, *, request_id: str, **common: Unpack[Common]) -> R:
        """An access request was answered."""
        return self._record("access_fulfilled", subject, {"request_id": request_id}, common)

    def withdrawal_requested(self, subject: Subject, **common: Unpack[Common]) -> R:
        """The subject asked to withdraw (delete their account)."""
        return self._record("withdrawal_requested", subject, {}, common)

    def archived(self, subject: Subject, *, items: Sequence[str], **common: Unpack[Common]) -> R:
        """Items were moved to separated storage."""
        return self._record("archived", subject, {"items": items}, common)

    def destroyed(
        self,
        subject: Subject,
        *,
        items: Sequence[str],
        method: str,
        reason: Literal["purpose_fulfilled", "retention_expired", "subject_request"],
        **common: Unpack[Common],
    ) -> R:
        """Items were destroyed."""
        fields = {"items": items, "method": method, "reason": reason}
        return self._record("destroyed", subject, fields, common)

    def handler_authorized(self, *, handler_id: str, role: str, **common: Unpack[Common]) -> R:
        """A staff member was authorised to handle personal data (no subject)."""
        fields = {"handler_id": handler_id, "role": role}
        return self._record("handler_authorized", None, fields, common)

    def handler_revoked(self, *, handler_id: str, role: str, **common: Unpack[Common]) -> R:
        """A handler's authorisation was revoked (no subject)."""
        fields = {"handler_id": handler_id, "role": role}
        return self._record("handler_revoked", None, fields, common)

    def policy_published(
        self,
        *,
        policy_version: str,
        announced_at: datetime,
        effective_at: datetime,
        significant: bool,
        **common: Unpack[_Base],
    ) -> R:
        """A policy version was published (no subject)."""
        fields = {
            "policy_version": policy_version,
            "announced_at": announced_at,
            "effective_at": effective_at,
            "significant": significant,
        }
        return self._record("policy_published", None, fields, common)


def _opt(fields: dict[str, Any], **optional: Any) -> None:
    fields.update({k: v for k, v in optional.items() if v is not None})
