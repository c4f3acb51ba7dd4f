"""The policy file's typed model: vocabulary, contexts, processors, retention, deadlines.

The YAML file is validated into :class:`Policy` (pydantic, frozen). Cross references
(a context listing an item the vocabulary lacks, ...) are checked too, so an invalid
policy cannot exist. The rule engine does not walk these models on its hot path: it
reads :attr:`Policy.index`, a slotted view of frozensets built once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from privtrail.events import Timestamp, _term
from privtrail.policy.duration import Duration
from privtrail.policy.terms import unknown_terms


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 duration string such as P10D")
    return Duration.parse(value)


PolicyTerm = Annotated[str, AfterValidator(_term)]
"""A vocabulary id: lowercase snake_case (the same rule the event contract applies)."""
DurationField = Annotated[Duration, PlainValidator(_duration), PlainSerializer(str)]
TermList = Annotated[list[PolicyTerm], Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyVersion(_Model):
    id: str = Field(min_length=1, description="Version id written into alerts")
    announced_at: Timestamp = Field(description="When the version was announced (공고일자)")
    effective_at: Timestamp = Field(description="When it took effect (시행일자)")
    significant: bool = Field(default=False, description="A significant change (30-day notice)")


class ContextSpec(_Model):
    items: TermList = Field(description="Items that may be collected in this context")
    purposes: TermList = Field(description="Purposes that may be declared in this context")
    section: str = Field(default="", description="Section of the policy text it encodes")


class ProcessorSpec(_Model):
    name: str = Field(description="The processor's display name (수탁업체)")
    purposes: TermList = Field(description="Purposes the processor is entrusted with")
    items: list[PolicyTerm] | None = Field(
        default=None, description="Items it is limited to; absent means any item"
    )


class DestructionSpec(_Model):
    methods: TermList = Field(description="Accepted destruction methods")
    grace: DurationField = Field(description="Time allowed to destroy once destruction is due")


class RightsSpec(_Model):
    access: DurationField = Field(description="Deadline to fulfil an access request")
    correction: DurationField = Field(description="Deadline to complete a correction")
    notify_recipients: DurationField = Field(
        description="Deadline to notify earlier recipients after a correction"
    )


class BulkAccessSpec(_Model):
    max_subjects: int = Field(gt=0, description="More distinct subjects than this is bulk")
    window: DurationField = Field(description="Rolling window (fixed length, e.g. PT1H)")


class NoticeSpec(_Model):
    minimum: DurationField = Field(description="Notice before a policy change takes effect")
    significant: DurationField = Field(description="Notice for a significant change")


@dataclass(frozen=True, slots=True)
class PolicyIndex:
    """Frozensets and maps for the engine's hot path (no pydantic access per event)."""

    items: frozenset[str]
    identifiers: frozenset[str]
    contexts: frozenset[str]
    context_items: dict[str, frozenset[str]]
    context_purposes: dict[str, frozenset[str]]
    methods: frozenset[str]
    purposes: frozenset[str]
    exempt_purposes: frozenset[str]
    operations: frozenset[str]
    bases: frozenset[str]
    scopes: frozenset[str]
    third_party_prefix: str
    channels: frozenset[str]
    destruction_methods: frozenset[str]
    processors: frozenset[str]
    processor_purposes: dict[str, frozenset[str]]
    processor_items: dict[str, frozenset[str] | None]
    retention: dict[str, Duration]
    destruction_grace: Duration
    access_deadline: Duration
    correction_deadline: Duration
    notify_deadline: Duration
    bulk_max_subjects: int
    bulk_window: Duration
    notice_minimum: Duration
    notice_significant: Duration
    version_ids: tuple[str, ...]
    version_starts: tuple[datetime, ...]

    def version_at(self, t: datetime) -> str:
        """See :meth:`Policy.version_at` (here so the engine avoids pydantic lookups)."""
        pos = bisect.bisect_right(self.version_starts, t)
        return self.version_ids[max(pos - 1, 0)]


class Policy(_Model):
    """A privacy policy as code. Load one with :func:`privtrail.policy.load_policy`."""

    name: str = Field(min_length=1, description="Policy name")
    versions: list[PolicyVersion] = Field(min_length=1, description="Released versions")
    items: TermList = Field(description="Personal-data item categories")
    identifiers: list[PolicyTerm] = Field(
        default_factory=list, description="Items that identify a person (never in statistics)"
    )
    contexts: dict[PolicyTerm, ContextSpec] = Field(description="Collection contexts")
    methods: TermList = Field(description="Collection methods")
    purposes: TermList = Field(description="Purposes of use")
    exempt_purposes: list[PolicyTerm] = Field(
        default_factory=list,
        description="Purposes exempt from purpose, archive and withdrawal rules",
    )
    operations: TermList = Field(description="Operations a `used` event may name")
    bases: TermList = Field(description="Legal bases for a disclosure")
    consent_scopes: TermList = Field(description="Consent scopes besides third_party:<r>")
    third_party_scope_prefix: PolicyTerm = Field(
        default="third_party", description="Prefix of per-recipient consent scopes"
    )
    channels: TermList = Field(description="Channels an access request may arrive by")
    processors: dict[PolicyTerm, ProcessorSpec] = Field(description="Entrusted processors")
    retention: dict[PolicyTerm, DurationField] = Field(
        default_factory=dict, description="Retention period after collection, per record item"
    )
    destruction: DestructionSpec
    rights: RightsSpec
    bulk_access: BulkAccessSpec
    notice: NoticeSpec

    _index: PolicyIndex = PrivateAttr()
    _effective: list[datetime] = PrivateAttr()
    _ordered: list[PolicyVersion] = PrivateAttr()

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Policy:
        # The loader asks to skip this and runs reference_problems() itself, so that it can
        # point each problem at its YAML line; constructed any other way, we raise here.
        if not (info.context and info.context.get("defer_references")):
            problems = self.reference_problems()
            if problems:
                where, message = problems[0]
                raise ValueError(f"{'.'.join(map(str, where))}: {message}")
        return self

    def model_post_init(self, __context: Any) -> None:
        self._ordered = sorted(self.versions, key=lambda v: v.effective_at)
        self._effective = [v.effective_at for v in self._ordered]
        self._index = self._build_index()  # write through pydantic; reads below skip it

    # -- validation ------------------------------------------------------------------

    def reference_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every dangling or contradictory reference, as (path in the file, message)."""
        return list(self._iter_problems())

    def _iter_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        items, purposes = set(self.items), set(self.purposes)
        for name, values in (
            ("items", self.items),
            ("methods", self.methods),
            ("purposes", self.purposes),
            ("operations", self.operations),
            ("bases", self.bases),
            ("channels", self.channels),
        ):
            seen: set[str] = set()
            for i, value in enumerate(values):
                if value in seen:
                    yield (name, i), f"{value!r} is listed twice"
                seen.add(value)
        ids = [v.id for v in self.versions]
        for i, vid in enumerate(ids):
            if vid in ids[:i]:
                yield ("versions", i, "id"), f"version id {vid!r} is listed twice"
        for i, version in enumerate(self.versions):
            if version.effective_at < version.announced_at:
                yield ("versions", i, "effective_at"), "is before announced_at"
        for i, item in enumerate(self.identifiers):
            if item not in items:
                yield ("identifiers", i), f"unknown item {item!r}"
        for ctx, spec in self.contexts.items():
            for i, item in enumerate(spec.items):
                if item not in items:
                    yield ("contexts", ctx, "items", i), f"unknown item {item!r}"
            for i, purpose in enumerate(spec.purposes):
                if purpose not in purposes:
                    yield ("contexts", ctx, "purposes", i), f"unknown purpose {purpose!r}"
        for i, purpose in enumerate(self.exempt_purposes):
            if purpose not in purposes:
                yield ("exempt_purposes", i), f"unknown purpose {purpose!r}"
        for proc, pspec in self.processors.items():
            for i, purpose in enumerate(pspec.purposes):
                if purpose not in purposes:
                    yield ("processors", proc, "purposes", i), f"unknown purpose {purpose!r}"
            for i, item in enumerate(pspec.items or ()):
                if item not in items:
                    yield ("processors", proc, "items", i), f"unknown item {item!r}"
        for item, period in self.retention.items():
            if item not in items:
                yield ("retention", item), f"unknown item {item!r}"
            elif period == Duration():
                yield ("retention", item), "retention period must be longer than zero"
        if self.bulk_access.window.is_calendar:
            yield ("bulk_access", "window"), "must be a fixed length (days, hours), not Y/M"
        for key in ("access", "correction", "notify_recipients"):
            if getattr(self.rights, key).is_calendar:
                yield ("rights", key), "must be a fixed length (days, hours), not Y/M"

    def _build_index(self) -> PolicyIndex:
        return PolicyIndex(
            items=frozenset(self.items),
            identifiers=frozenset(self.identifiers),
            contexts=frozenset(self.contexts),
            context_items={k: frozenset(v.items) for k, v in self.contexts.items()},
            context_purposes={k: frozenset(v.purposes) for k, v in self.contexts.items()},
            methods=frozenset(self.methods),
            purposes=frozenset(self.purposes),
            exempt_purposes=frozenset(self.exempt_purposes),
            operations=frozenset(self.operations),
            bases=frozenset(self.bases),
            scopes=frozenset(self.consent_scopes),
            third_party_prefix=self.third_party_scope_prefix + ":",
            channels=frozenset(self.channels),
            destruction_methods=frozenset(self.destruction.methods),
            processors=frozenset(self.processors),
            processor_purposes={k: frozenset(v.purposes) for k, v in self.processors.items()},
            processor_items={
                k: frozenset(v.items) if v.items is not None else None
                for k, v in self.processors.items()
            },
            retention=dict(self.retention),
            destruction_grace=self.destruction.grace,
            access_deadline=self.rights.access,
            correction_deadline=self.rights.correction,
            notify_deadline=self.rights.notify_recipients,
            bulk_max_subjects=self.bulk_access.max_subjects,
            bulk_window=self.bulk_access.window,
            notice_minimum=self.notice.minimum,
            notice_significant=self.notice.significant,
            version_ids=tuple(v.id for v in self._ordered),
            version_starts=tuple(self._effective),
        )

    # -- queries -----------------------------------------------------------------------

    @property
    def index(self) -> PolicyIndex:
        """The engine's precomputed view of this policy."""
        # Straight from the private dict: ``self._index`` goes through pydantic's
        # ``__getattr__`` fallback, which cost 1-3 us per event on the SDK's hot path.
        private: dict[str, Any] = self.__pydantic_private__  # type: ignore[assignment]
        index: PolicyIndex = private["_index"]
        return index

    def version_at(self, t: datetime) -> str:
        """Id of the version in force at ``t``.

        Before the first version took effect the first version is returned: it is the
        oldest text we hold, and an alert must name some version (documented in rules.md).
        """
        return self.index.version_at(t)

    def is_processor(self, recipient: str) -> bool:
        """True when ``recipient`` is an entrusted processor (수탁자), not a third party."""
        return recipient in self.index.processors

    def is_identifier(self, item: str) -> bool:
        return item in self.index.identifiers

    def retention_of(self, item: str) -> Duration | None:
        """The retention period of a record item, or None for items without one."""
        return self.index.retention.get(item)

    def is_known_scope(self, scope: str) -> bool:
        """``marketing``, ``analytics`` (the policy's scopes) or ``third_party:<recipient>``."""
        idx = self.index
        return scope in idx.scopes or (
            scope.startswith(idx.third_party_prefix) and len(scope) > len(idx.third_party_prefix)
        )

    def unknown_terms(self, event: Any) -> list[str]:
        """Terms of ``event`` the policy does not define, as ``"<field>:<term>"``.

        The field is the event's own field name (``items``, ``purposes``, ``purpose``,
        ``context``, ``method``, ``operation``, ``basis``, ``scope``, ``channel``).
        Recipients are not vocabulary: any recipient not a processor is a third party.
        """
        return list(unknown_terms(self.index, event))
