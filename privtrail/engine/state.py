"""Engine state: what one subject's and one staff actor's history amounts to.

Slotted dataclasses of sets and dicts, because the engine touches one of these per event
at 100k+ events/s and holds one per subject (100k+). Each converts to a JSON-compatible
dict and back, for the stream processors' Faust tables (changelog topics).
"""

from __future__ import annotations

import functools
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from privtrail.events import format_timestamp

# An actor's whole access window is written with every one of its events (the Faust
# table's value), so each timestamp in it is formatted again and again: remember them.
# Bounded: about 120 bytes per entry, 128k entries.
_window_time = functools.lru_cache(maxsize=1 << 17)(format_timestamp)


# The compact JSON the stream worker's ledgers use (streams/ledger.py).
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(slots=True)
class Deadline:
    """A running clock: the event that started it, when it is due, what closes it.

    ``kind`` is one of ``correction`` (CORRECTION_OVERDUE), ``access`` (ACCESS_OVERDUE),
    ``notify`` (CORRECTION_NOT_PROPAGATED, one per recipient), ``withdrawal`` and
    ``retention`` (DESTRUCTION_OVERDUE). ``items`` maps each retention item to its own due
    instant; ``due_at`` is then the earliest of them.
    """

    kind: str
    due_at: datetime
    event_id: str
    started_at: datetime
    policy_version: str
    actor_id: str | None
    period: str
    request_id: str | None = None
    recipient: str | None = None
    items: dict[str, datetime] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "due_at": format_timestamp(self.due_at),
            "event_id": self.event_id,
            "started_at": format_timestamp(self.started_at),
            "policy_version": self.policy_version,
            "actor_id": self.actor_id,
            "period": self.period,
            "request_id": self.request_id,
            "recipient": self.recipient,
            "items": (
                {k: format_timestamp(v) for k, v in self.items.items()}
                if self.items is not None
                else None
            ),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deadline:
        items = d.get("items")
        return cls(
            kind=d["kind"],
            due_at=_ts(d["due_at"]),
            event_id=d["event_id"],
            started_at=_ts(d["started_at"]),
            policy_version=d["policy_version"],
            actor_id=d.get("actor_id"),
            period=d["period"],
            request_id=d.get("request_id"),
            recipient=d.get("recipient"),
            items={k: _ts(v) for k, v in items.items()} if items is not None else None,
        )


@dataclass(slots=True)
class Correction:
    """An open correction request: its items and the event that opened it."""

    event_id: str
    items: tuple[str, ...]


@dataclass(slots=True)
class SubjectState:
    """Everything the subject-side rules need to know about one data subject.

    ``purposes`` has an entry for every item ever collected (the purposes declared for
    it, a tuple: small, and untracked by the cyclic GC); an item is *held* when it has
    an entry and is not in ``destroyed``. The other containers are None until first
    needed: most subjects never have a correction or a consent, and an empty set costs
    216 bytes, times six, times every subject.
    """

    subject_id: str
    purposes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    destroyed: set[str] | None = None
    archived: set[str] | None = None
    consents: set[str] | None = None
    opted_out: set[str] | None = None
    withdrawal_event: str | None = None
    corrections: dict[str, Correction] | None = None
    recipients: dict[str, set[str]] | None = None
    verified: set[str] | None = None
    deadlines: list[Deadline] | None = None
    next_due_at: datetime | None = None

    def next_due(self) -> datetime | None:
        """Earliest pending deadline (for a stream's timer index), or None."""
        return self.next_due_at

    def held(self, item: str) -> bool:
        return item in self.purposes and not (self.destroyed and item in self.destroyed)

    def add_deadline(self, deadline: Deadline) -> None:
        if self.deadlines is None:
            self.deadlines = [deadline]
        else:
            self.deadlines.append(deadline)
        if self.next_due_at is None or deadline.due_at < self.next_due_at:
            self.next_due_at = deadline.due_at

    def set_deadlines(self, deadlines: list[Deadline]) -> None:
        """Replace the pending deadlines (after closing or firing some)."""
        self.deadlines = deadlines or None
        self.next_due_at = min((d.due_at for d in deadlines), default=None)

    def recompute_next_due(self) -> None:
        """Call after moving due instants in place."""
        self.next_due_at = min((d.due_at for d in self.deadlines or ()), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "purposes": {k: list(v) for k, v in self.purposes.items()},
            "destroyed": sorted(self.destroyed or ()),
            "archived": sorted(self.archived or ()),
            "consents": sorted(self.consents or ()),
            "opted_out": sorted(self.opted_out or ()),
            "withdrawal_event": self.withdrawal_event,
            "corrections": {
                k: {"event_id": c.event_id, "items": list(c.items)}
                for k, c in (self.corrections or {}).items()
            },
            "recipients": {k: sorted(v) for k, v in (self.recipients or {}).items()},
            "verified": sorted(self.verified or ()),
            "deadlines": [d.to_dict() for d in self.deadlines or ()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubjectState:
        state = cls(
            subject_id=d["subject_id"],
            purposes={k: tuple(v) for k, v in d.get("purposes", {}).items()},
            destroyed=set(d.get("destroyed") or ()) or None,
            archived=set(d.get("archived") or ()) or None,
            consents=set(d.get("consents") or ()) or None,
            opted_out=set(d.get("opted_out") or ()) or None,
            withdrawal_event=d.get("withdrawal_event"),
            corrections={
                k: Correction(event_id=c["event_id"], items=tuple(c["items"]))
                for k, c in (d.get("corrections") or {}).items()
            }
            or None,
            recipients={k: set(v) for k, v in (d.get("recipients") or {}).items()} or None,
            verified=set(d.get("verified") or ()) or None,
        )
        state.set_deadlines([Deadline.from_dict(x) for x in d.get("deadlines") or ()])
        return state


@dataclass(slots=True)
class ActorState:
    """A staff actor's (or handler's) authorisations and recent subject accesses.

    ``window`` holds (occurred_at, subject_id) of the actor's used/disclosed events inside
    the rolling window, ``counts`` how often each subject appears in it, so the number of
    distinct subjects is ``len(counts)``. ``over`` is True while above the threshold, so
    BULK_ACCESS fires on the crossing event only.
    """

    actor_id: str
    roles: set[str] = field(default_factory=set)
    window: deque[tuple[datetime, str]] = field(default_factory=deque)
    counts: dict[str, int] = field(default_factory=dict)
    over: bool = False
    # JSON text of each window entry, by entry: see json_text.
    _entry_text: dict[tuple[datetime, str], str] = field(
        default_factory=dict, repr=False, compare=False
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor_id": self.actor_id,
            "roles": sorted(self.roles),
            "window": [[_window_time(t), s] for t, s in self.window],
            "over": self.over,
        }

    def json_text(self) -> str:
        """Exactly ``_json(self.to_dict())``, with each window entry's text remembered.

        The stream worker writes this with every one of the actor's events, and the window
        holds the actor's whole rolling hour (hundreds of entries for a busy desk): encoding
        it afresh each time was most of the worker's CPU. Entries only enter at the right
        and leave at the left, so the remembered texts are reused until they leave.
        """
        texts = self._entry_text
        parts = []
        for entry in self.window:
            text = texts.get(entry)
            if text is None:
                text = texts[entry] = _json([_window_time(entry[0]), entry[1]])
            parts.append(text)
        if len(texts) > 2 * len(parts) + 64:  # drop entries that left the window
            live = set(self.window)
            for entry in [e for e in texts if e not in live]:
                del texts[entry]
        return (
            f'{{"actor_id":{_json(self.actor_id)},"roles":{_json(sorted(self.roles))},'
            f'"window":[{",".join(parts)}],"over":{_json(self.over)}}}'
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActorState:
        state = cls(
            actor_id=d["actor_id"], roles=set(d.get("roles", ())), over=d.get("over", False)
        )
        for t, s in d.get("window", ()):
            state.window.append((_ts(t), s))
            state.counts[s] = state.counts.get(s, 0) + 1
        return state
