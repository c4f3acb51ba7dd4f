"""A configurable COLABOX workload: collections, uses, disclosures, consents, rights
requests, corrections and destructions over N subjects and M staff actors, with a small
share of violations.

The workload is split into shards by subject (subject ``s`` belongs to shard ``s % shards``)
so that several producer processes can send it while every subject's events still come
from one process, in order: the stream keeps per-subject order only within one producer.
Each shard is deterministic from the seed, so a producer generates its own shard and the
driver regenerates the same events to compute the expected alerts with the Engine.

Only pseudonyms and categories appear: subjects are ``ps_`` + 40 letters (the SDK's
pseudonym shape), staff actors are ``agent-NNN``, and every term comes from the policy.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from privtrail.events import format_timestamp

# Context -> (items one may collect there, purposes one may declare there, minus marketing:
# marketing needs a consent, and compliant events must not need one).
CONTEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tech_support": (
        ("email", "contact_name", "company_name", "phone", "user_id"),
        ("user_management", "contract_performance", "service_improvement"),
    ),
    "product_inquiry": (
        ("company_name", "contact_name", "region", "phone", "email"),
        ("user_management", "contract_performance"),
    ),
    "service_use": (
        ("service_usage_record", "contract_record", "payment_record", "user_id"),
        ("contract_performance", "user_management", "service_improvement"),
    ),
}
# Processor -> purposes it is entrusted with (privtrail/policy/colabox.yaml, section 4).
PROCESSORS: dict[str, tuple[str, ...]] = {
    "salesforce": ("user_management", "contract_performance"),
    "lguplus": ("user_management",),
}
ALL_PURPOSES = ("user_management", "contract_performance", "service_improvement")
BULK_LIMIT = 200  # policy bulk_access.max_subjects: distinct subjects per actor per hour

# Compliant event kinds and their weights once a subject exists.
MIX: tuple[tuple[str, int], ...] = (
    ("used", 50),
    ("collected", 10),
    ("disclosed", 10),
    ("consent", 8),
    ("correction", 6),
    ("access", 6),
    ("destroyed", 4),
)
VIOLATIONS = ("purpose", "download", "intruder", "no_basis", "not_collected")


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """What to generate. ``events`` counts subject events (the setup comes on top)."""

    events: int = 10_000
    subjects: int = 5_000
    actors: int = 50
    violation_rate: float = 0.02
    seed: int = 1
    prefix: str = "bench"
    start: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.events < 0 or self.subjects < 1 or self.actors < 1:
            raise ValueError("events >= 0, subjects >= 1 and actors >= 1 are required")
        if not 0.0 <= self.violation_rate <= 1.0:
            raise ValueError("violation_rate must be between 0 and 1")

    @property
    def bulk_access_possible(self) -> bool:
        """True when an actor handles more subjects than BULK_ACCESS allows in an hour;
        those alerts then depend on cross-partition arrival order."""
        return -(-self.subjects // self.actors) > BULK_LIMIT


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One event in JSON form, its position in the run and whether it was built to violate."""

    index: int  # global order across shards (occurred_at order)
    event: dict[str, Any]
    violation: bool


def letters(data: bytes) -> str:
    """Hex with the letters a-p for 0-f: no digit run could pass for a phone number."""
    return data.hex().translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop"))


def number_letters(n: int) -> str:
    """``n`` >= 0 in base-26 letters (``a`` is 0): an id part with no digit run that
    could pass for a phone number."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = chr(ord("a") + r) + out
        if n == 0:
            return out


def subject_pseudonym(prefix: str, subject: int) -> str:
    return "ps_" + letters(hashlib.sha256(f"{prefix}/{subject}".encode()).digest()[:20])


def staff_id(actor: int) -> str:
    return f"agent-{actor:03d}"


def setup_events(config: WorkloadConfig) -> list[dict[str, Any]]:
    """``handler_authorized`` for every staff actor; send and land these before the load,
    or the actor side could see a staff action before its authorisation."""
    admin = {"kind": "staff", "id": "privacy-officer-1", "role": "privacy_officer"}
    return [
        {
            "event_id": f"{config.prefix}-setup-{a:04d}",
            "type": "handler_authorized",
            "occurred_at": format_timestamp(config.start - timedelta(seconds=1)),
            "source": {"service": "admin-console"},
            "actor": admin,
            "handler_id": staff_id(a),
            "role": "support_agent",
        }
        for a in range(config.actors)
    ]


@dataclass(slots=True)
class _Subject:
    """What the generator remembers of one subject, to keep compliant events compliant."""

    pseudonym: str
    context: str
    actor: str
    held: dict[str, set[str]] = field(default_factory=dict)  # item -> declared purposes
    pending: list[dict[str, Any]] = field(default_factory=list)  # follow-ups to send next
    requests: int = 0


class _ShardGenerator:
    def __init__(self, config: WorkloadConfig, shard: int, shards: int) -> None:
        self.c = config
        self.shard = shard
        self.shards = shards
        # Reproducible load, not secrecy: a seeded PRNG is what is wanted here.
        self.rng = random.Random(f"{config.seed}/{shard}/{shards}")  # noqa: S311
        ids = range(shard, config.subjects, shards)
        contexts = sorted(CONTEXTS)
        self.subjects = [
            _Subject(
                pseudonym=subject_pseudonym(config.prefix, s),
                context=contexts[s % len(contexts)],
                actor=staff_id(s % config.actors),
            )
            for s in ids
        ]
        self.seq = 0

    def _base(
        self, subject: _Subject, kind: str, actor: dict[str, Any] | None, service: str
    ) -> dict[str, Any]:
        self.seq += 1
        return {
            "event_id": f"{self.c.prefix}-{self.shard:02d}-{self.seq:07d}",
            "type": kind,
            "source": {"service": service},
            "actor": actor or {"kind": "service", "id": service},
            "subject_id": subject.pseudonym,
        }

    def _staff(self, subject: _Subject) -> dict[str, Any]:
        return {"kind": "staff", "id": subject.actor, "role": "support_agent"}

    def _collect(self, s: _Subject) -> dict[str, Any]:
        items, purposes = CONTEXTS[s.context]
        got = self.rng.sample(items, k=self.rng.randint(2, len(items)))
        declared = self.rng.sample(purposes, k=self.rng.randint(1, len(purposes)))
        for item in got:
            s.held.setdefault(item, set()).update(declared)
        e = self._base(s, "collected", None, "web-inquiry")
        e.update(
            context=s.context, method="inquiry_board", items=sorted(got), purposes=sorted(declared)
        )
        return e

    def _use(self, s: _Subject) -> dict[str, Any]:
        item = self.rng.choice(sorted(s.held))
        purpose = self.rng.choice(sorted(s.held[item]))
        e = self._base(s, "used", self._staff(s), "support-desk")
        op = self.rng.choice(("view", "view", "modify", "process", "print", "download"))
        e.update(items=[item], purpose=purpose, operation=op)
        if op == "download":
            e["reason"] = "customer_request"
        return e

    def _disclose(self, s: _Subject) -> dict[str, Any] | None:
        for recipient, entrusted in PROCESSORS.items():
            for item in sorted(s.held):
                common = sorted(s.held[item] & set(entrusted))
                if common:
                    e = self._base(s, "disclosed", None, "crm-sync")
                    e.update(
                        items=[item], recipient=recipient, purpose=common[0], basis="entrustment"
                    )
                    return e
        return None

    def _request_id(self, s: _Subject, kind: str) -> str:
        s.requests += 1
        return f"{kind}-{s.pseudonym[3:15]}-{s.requests}"

    def _compliant(self, s: _Subject) -> dict[str, Any]:
        if s.pending:
            return s.pending.pop(0)
        if not s.held:
            return self._collect(s)
        kind = self.rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        subject_actor = {"kind": "subject", "id": s.pseudonym}
        if kind == "collected":
            return self._collect(s)
        if kind == "disclosed":
            return self._disclose(s) or self._use(s)
        if kind == "consent":
            e = self._base(
                s,
                self.rng.choice(("consent_given", "consent_withdrawn")),
                subject_actor,
                "web-account",
            )
            e["scope"] = self.rng.choice(("marketing", "analytics"))
            return e
        if kind == "correction":
            rid = self._request_id(s, "corr")
            item = self.rng.choice(sorted(s.held))
            e = self._base(s, "correction_requested", subject_actor, "web-account")
            e.update(request_id=rid, items=[item])
            done = self._base(s, "corrected", self._staff(s), "support-desk")
            done["request_id"] = rid
            s.pending.append(done)  # next event of this subject: no use while it is open
            return e
        if kind == "access":
            rid = self._request_id(s, "acc")
            e = self._base(s, "access_requested", subject_actor, "web-account")
            e.update(request_id=rid, channel=self.rng.choice(("email", "board")))
            verified = self._base(s, "identity_verified", None, "support-desk")
            verified.update(request_id=rid, verified_as="self")
            fulfilled = self._base(s, "access_fulfilled", self._staff(s), "support-desk")
            fulfilled["request_id"] = rid
            s.pending.extend([verified, fulfilled])
            return e
        if kind == "destroyed" and len(s.held) > 1:
            item = self.rng.choice(sorted(s.held))
            del s.held[item]
            e = self._base(s, "destroyed", self._staff(s), "retention-job")
            e.update(items=[item], method="irrecoverable_delete", reason="purpose_fulfilled")
            return e
        return self._use(s)

    def _violation(self, s: _Subject) -> dict[str, Any]:
        kind = self.rng.choice(VIOLATIONS)
        e = self._use(s)
        item = e["items"][0]
        if kind == "purpose":
            undeclared = [p for p in ALL_PURPOSES if p not in s.held[item]]
            e["purpose"] = undeclared[0] if undeclared else "marketing"
        elif kind == "download":
            e["operation"] = "download"
            e.pop("reason", None)
        elif kind == "intruder":
            # One intruder per desk, so no account crosses the BULK_ACCESS limit either.
            e["actor"] = {
                "kind": "staff",
                "id": s.actor.replace("agent", "intruder"),
                "role": "support_agent",
            }
        elif kind == "no_basis":
            e["type"] = "disclosed"
            e.pop("operation")
            e.pop("reason", None)
            e.update(
                recipient="ad_partner",
                basis="consent",
                source={"service": "crm-sync"},
                actor={"kind": "service", "id": "crm-sync"},
            )
        else:
            # Own context first; a subject only collects in its own context, so another
            # context always has an item it never gave.
            every = [i for c in (s.context, *sorted(CONTEXTS)) for i in CONTEXTS[c][0]]
            e["items"] = [next(i for i in every if i not in s.held)]
        return e

    def items(self, count: int) -> Iterator[WorkItem]:
        """The shard's first ``count`` events, in sending order."""
        step = timedelta(microseconds=100)
        for n in range(count):
            s = self.rng.choice(self.subjects)
            bad = bool(s.held) and not s.pending and self.rng.random() < self.c.violation_rate
            event = self._violation(s) if bad else self._compliant(s)
            index = n * self.shards + self.shard
            event["occurred_at"] = format_timestamp(self.c.start + step * index)
            yield WorkItem(index, event, bad)


def shard_items(config: WorkloadConfig, shard: int, shards: int) -> list[WorkItem]:
    """Shard ``shard`` of ``shards``: ``config.events / shards`` events (the remainder goes
    to the first shards), all of its subjects' events in order."""
    if not 0 <= shard < shards or shards > config.subjects:
        raise ValueError(f"shard {shard} of {shards} with {config.subjects} subjects")
    count = config.events // shards + (1 if shard < config.events % shards else 0)
    return list(_ShardGenerator(config, shard, shards).items(count))


def all_items(config: WorkloadConfig, shards: int) -> list[WorkItem]:
    """Every shard merged in ``occurred_at`` order: what the Engine must see."""
    parts = [shard_items(config, s, shards) for s in range(shards)]
    return list(heapq.merge(*parts, key=lambda w: w.index))
