"""The event contract: one typed, immutable model per event type, and its JSON form.

The JSON form is public (other-language services and ``privtrail check`` speak it) and maps
1:1 onto the Avro schemas in ``schemas/``. Field names here are the contract; see
``docs/event-contract.md``.

Vocabulary terms (items, purposes, recipients, ...) are typed as :data:`Term`, not as enums:
the policy file owns the vocabulary, and the rule engine reports terms it does not know
(UNKNOWN_TERM) instead of the contract rejecting them. What the contract does reject is a
value that cannot be a term at all, such as an e-mail address in ``items``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
)

from privtrail.errors import ContractError

_TERM = re.compile(r"^[a-z][a-z0-9_]{0,62}(:[a-z0-9][a-z0-9_.\-]{0,62})?$")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
# A run of digits and phone separators standing on its own (not inside a word, a UUID or an
# id like "demo-20261127"): a phone number when it has 9 to 15 digits (E.164's maximum).
_PHONE_RUN = re.compile(r"(?<![\w@.\-])\+?\(?\d[\d\s.\-()]{6,}\d(?![\w@])")


_DIGITS = str.maketrans("", "", "0123456789")


def looks_personal(value: str) -> bool:
    """True when ``value`` looks like a personal value (an e-mail address or a phone number)."""
    if "@" in value and _EMAIL.search(value):
        return True
    # Fast path for the common case: too few digits to hold a phone number at all.
    if len(value) - len(value.translate(_DIGITS)) < 9:
        return False
    return any(9 <= sum(c.isdigit() for c in m.group()) <= 15 for m in _PHONE_RUN.finditer(value))


# Strings that passed _term, which is a pure function of the string: the vocabulary is small
# and repeats on every event, so most checks become one set lookup. Bounded, so that
# arbitrary input cannot grow it without limit (past the bound, checks just run in full).
_TERMS_SEEN: set[str] = set()
_TERMS_SEEN_MAX = 4_096


def _term(value: str) -> str:
    if value in _TERMS_SEEN:
        return value
    if looks_personal(value):
        raise ValueError("looks like a personal value; events carry categories, never values")
    if not _TERM.match(value):
        raise ValueError(
            f"{value!r} is not a vocabulary term (lowercase snake_case, optional ':qualifier')"
        )
    if len(_TERMS_SEEN) < _TERMS_SEEN_MAX:
        _TERMS_SEEN.add(value)
    return value


def _no_personal(value: str) -> str:
    if looks_personal(value):
        raise ValueError("looks like a personal value (e-mail or phone); use a pseudonym")
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (RFC 3339, e.g. ...Z)")
    return value.astimezone(UTC)


Term = Annotated[str, AfterValidator(_term)]
"""A vocabulary term: an id from the policy, never a personal value."""
Text = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_no_personal)]
"""Short text (actor ids, reasons, references) that must not hold personal values."""
Id = Annotated[str, Field(min_length=1, max_length=256)]
"""A system-generated identifier (event, request, key, policy version): never checked for
personal-looking digits, because generated ids are full of them."""
Timestamp = Annotated[datetime, AfterValidator(_utc)]
Items = Annotated[list[Term], Field(min_length=1, max_length=64)]

ActorKind = Literal["staff", "service", "subject", "system", "third_party"]
VerifiedAs = Literal["self", "legal_representative"]
DestructionReason = Literal["purpose_fulfilled", "retention_expired", "subject_request"]


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds only when present."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year >= 1000:
        # isoformat is C and 2x faster than strftime; this runs for every timestamp of
        # every state a worker writes. Before year 1000 strftime's %Y does not pad, so the
        # old path keeps those (rare) strings exactly as they were.
        # (timespec "auto": microseconds only when present, as below)
        return value.isoformat()[:-6] + "Z"  # "+00:00" -> "Z"
    spec = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(spec)


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Sorted keys, compact separators, UTF-8: the canonical serialisation of a JSON form."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class Source(_Model):
    """The service (and optionally the instance) that emitted the event."""

    service: Text = Field(description="Logical name of the emitting service")
    instance: Text | None = Field(default=None, description="Host, pod or process id")


class Actor(_Model):
    """Who did it: a staff member, a service, the subject, the system or a third party."""

    kind: ActorKind = Field(description="staff | service | subject | system | third_party")
    id: Text = Field(description="Pseudonymous id of the actor (staff id, service name)")
    role: Text | None = Field(default=None, description="Role the actor acted in")
    ip: Text | None = Field(default=None, description="Address the action came from")


class BaseEvent(_Model):
    """Fields every event carries."""

    HAS_SUBJECT: ClassVar[bool] = True

    event_id: Id = Field(description="Globally unique id; the idempotency key")
    occurred_at: Timestamp = Field(description="When it happened (RFC 3339, UTC)")
    source: Source
    actor: Actor
    subject_id: Text | None = Field(
        default=None,
        validate_default=True,
        description="Pseudonym of the data subject (absent for no-subject types)",
    )
    subject_key_id: Id | None = Field(
        default=None, description="Id of the key that made the subject pseudonym"
    )
    policy_version: Id | None = Field(
        default=None, description="Policy version in force; the engine fills it when absent"
    )

    @field_validator("subject_id")
    @classmethod
    def _subject_presence(cls, value: str | None) -> str | None:
        if cls.HAS_SUBJECT and value is None:
            raise ValueError("required for this event type")
        if not cls.HAS_SUBJECT and value is not None:
            raise ValueError("must be absent for this event type (it has no subject)")
        return value

    @field_serializer("occurred_at", "announced_at", "effective_at", check_fields=False)
    def _ser_ts(self, value: datetime) -> str:
        return format_timestamp(value)

    def to_json(self) -> dict[str, Any]:
        """The JSON form: absent optional fields are left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def canonical_bytes(self) -> bytes:
        """The bytes a Merkle leaf hashes: the JSON form with sorted keys, no spaces, UTF-8.

        Anyone holding the stored JSON can recompute them with a standard JSON library.
        """
        return canonical_json(self.to_json())


class Collected(BaseEvent):
    type: Literal["collected"] = "collected"
    items: Items
    context: Term
    method: Term
    purposes: Annotated[list[Term], Field(min_length=1, max_length=16)]


class Used(BaseEvent):
    type: Literal["used"] = "used"
    items: Items
    purpose: Term
    operation: Term
    reason: Text | None = None
    request_id: Id | None = None


class Disclosed(BaseEvent):
    type: Literal["disclosed"] = "disclosed"
    items: Items
    recipient: Term
    purpose: Term
    basis: Term
    legal_reference: Text | None = None


class ConsentGiven(BaseEvent):
    type: Literal["consent_given"] = "consent_given"
    scope: Term


class ConsentWithdrawn(BaseEvent):
    type: Literal["consent_withdrawn"] = "consent_withdrawn"
    scope: Term


class CorrectionRequested(BaseEvent):
    type: Literal["correction_requested"] = "correction_requested"
    request_id: Id
    items: Items


class Corrected(BaseEvent):
    type: Literal["corrected"] = "corrected"
    request_id: Id


class RecipientNotified(BaseEvent):
    type: Literal["recipient_notified"] = "recipient_notified"
    request_id: Id
    recipient: Term


class AccessRequested(BaseEvent):
    type: Literal["access_requested"] = "access_requested"
    request_id: Id
    channel: Term


class IdentityVerified(BaseEvent):
    type: Literal["identity_verified"] = "identity_verified"
    request_id: Id
    verified_as: VerifiedAs


class AccessFulfilled(BaseEvent):
    type: Literal["access_fulfilled"] = "access_fulfilled"
    request_id: Id


class WithdrawalRequested(BaseEvent):
    type: Literal["withdrawal_requested"] = "withdrawal_requested"


class Archived(BaseEvent):
    type: Literal["archived"] = "archived"
    items: Items


class Destroyed(BaseEvent):
    type: Literal["destroyed"] = "destroyed"
    items: Items
    method: Term
    reason: DestructionReason


class HandlerAuthorized(BaseEvent):
    HAS_SUBJECT: ClassVar[bool] = False
    type: Literal["handler_authorized"] = "handler_authorized"
    handler_id: Text
    role: Text


class HandlerRevoked(BaseEvent):
    HAS_SUBJECT: ClassVar[bool] = False
    type: Literal["handler_revoked"] = "handler_revoked"
    handler_id: Text
    role: Text


class PolicyPublished(BaseEvent):
    HAS_SUBJECT: ClassVar[bool] = False
    type: Literal["policy_published"] = "policy_published"
    policy_version: Id  # required here, optional elsewhere
    announced_at: Timestamp
    effective_at: Timestamp
    significant: bool


Event: TypeAlias = Annotated[
    Collected
    | Used
    | Disclosed
    | ConsentGiven
    | ConsentWithdrawn
    | CorrectionRequested
    | Corrected
    | RecipientNotified
    | AccessRequested
    | IdentityVerified
    | AccessFulfilled
    | WithdrawalRequested
    | Archived
    | Destroyed
    | HandlerAuthorized
    | HandlerRevoked
    | PolicyPublished,
    Field(discriminator="type"),
]
"""Any event of the contract, discriminated by ``type``."""

EVENT_CLASSES: dict[str, type[BaseEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        Collected,
        Used,
        Disclosed,
        ConsentGiven,
        ConsentWithdrawn,
        CorrectionRequested,
        Corrected,
        RecipientNotified,
        AccessRequested,
        IdentityVerified,
        AccessFulfilled,
        WithdrawalRequested,
        Archived,
        Destroyed,
        HandlerAuthorized,
        HandlerRevoked,
        PolicyPublished,
    )
}
"""Event type name -> model class, in contract order."""
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_CLASSES)

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in EVENT_TYPES and not out:
            continue  # the union's tag, not a field
        else:
            out += f".{part}" if out else str(part)
    return out


def contract_error(exc: ValidationError) -> ContractError:
    """Turn pydantic's error into one :class:`ContractError` naming the first bad field."""
    err = exc.errors()[0]
    field = _loc(tuple(err["loc"]))
    kind = err["type"]
    if kind == "missing":
        message = "missing required field"
    elif kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "union_tag_invalid":
        field, message = (
            "type",
            f"unknown event type {err['input'].get('type')!r}"
            if isinstance(err.get("input"), dict)
            else "unknown event type",
        )
    elif kind == "union_tag_not_found":
        field, message = "type", "missing required field"
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ContractError(field, message)


def parse_event(data: Any) -> Event:
    """Validate a JSON-form object into a typed event, or raise :class:`ContractError`."""
    if not isinstance(data, dict):
        raise ContractError("", f"an event must be a JSON object, not {type(data).__name__}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise contract_error(exc) from exc


def parse_event_json(text: str | bytes) -> Event:
    """Parse one JSON document (a JSON Lines line) into a typed event."""
    try:
        return _ADAPTER.validate_json(text)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":
            raise ContractError("", f"not valid JSON: {errors[0]['msg']}") from exc
        if errors and errors[0]["type"] in ("model_attributes_type", "dict_type"):
            raise ContractError("", "an event must be a JSON object") from exc
        raise contract_error(exc) from exc
