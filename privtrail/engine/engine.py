"""The in-memory Engine: one object holding every subject's and actor's state.

It is what ``privtrail check``, the SDK's local checks and the tests use. It composes the
same parts the stream processors host separately (SubjectEngine, ActorEngine,
evaluate_stateless), so an event gets the same verdict everywhere. Deadlines of all
subjects sit in one heap keyed by each subject's earliest due instant.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from privtrail.alerts import Alert
from privtrail.engine.actor import ActorEngine, actor_key
from privtrail.engine.catalog import STAFF_ACTIONS
from privtrail.engine.state import ActorState, SubjectState
from privtrail.engine.stateless import evaluate_stateless
from privtrail.engine.subject import SubjectEngine
from privtrail.policy.models import Policy

_HANDLER = frozenset({"handler_authorized", "handler_revoked"})
_ACTOR_TYPES = STAFF_ACTIONS | _HANDLER


@dataclass(slots=True)
class EngineStats:
    """Counters of what the Engine has seen and raised."""

    events: int = 0
    duplicates: int = 0
    alerts: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    subjects: int = 0
    actors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "duplicates": self.duplicates,
            "alerts": self.alerts,
            "by_rule": dict(sorted(self.by_rule.items())),
            "subjects": self.subjects,
            "actors": self.actors,
        }


class Engine:
    """Evaluate events in ``occurred_at`` order; deadlines fire as time moves on.

    An ``event_id`` seen before is ignored (counted in ``stats.duplicates``), so a
    re-delivered event is harmless.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.subject_engine = SubjectEngine(policy)
        self.actor_engine = ActorEngine(policy)
        self.subjects: dict[str, SubjectState] = {}
        self.actors: dict[str, ActorState] = {}
        self._seen: set[str] = set()
        self._heap: list[tuple[datetime, int, str]] = []
        self._indexed: dict[str, datetime] = {}  # subject -> due instant its heap entry holds
        self._seq = 0
        self._stats = EngineStats()

    @property
    def stats(self) -> EngineStats:
        self._stats.subjects = len(self.subjects)
        self._stats.actors = len(self.actors)
        return self._stats

    def process(self, event: Any) -> list[Alert]:
        """Alerts of deadlines missed before ``event``, then those ``event`` raises."""
        seen = self._seen
        before = len(seen)
        seen.add(event.event_id)  # one hash probe answers "seen before?" and records it
        stats = self._stats
        if len(seen) == before:
            stats.duplicates += 1
            return []
        stats.events += 1
        t = event.occurred_at
        heap = self._heap
        fired = self._fire(t) if heap and heap[0][0] < t else None
        subject = event.subject_id
        if subject is not None:
            state = self.subjects.get(subject)
            if state is None:
                state = self.subjects[subject] = SubjectState(subject_id=subject)
            out = self.subject_engine.process(state, event)
            nxt = state.next_due_at
            if nxt is not None and self._indexed.get(subject) != nxt:
                self._index(subject, nxt)
        else:
            out = evaluate_stateless(self.policy, event)
        if fired:  # other subjects' missed deadlines come first: they are older
            fired.extend(out)
            out = fired
        kind = event.type
        # actor_key(), inlined: most events (services acting) have no actor-side rule.
        key = (
            actor_key(event)
            if kind in _ACTOR_TYPES and (event.actor.kind == "staff" or kind in _HANDLER)
            else None
        )
        if key is not None:
            actor = self.actors.get(key)
            if actor is None:
                actor = self.actors[key] = ActorState(actor_id=key)
            out.extend(self.actor_engine.process(actor, event))
        if out:
            self._count(out)
        return out

    def advance(self, now: datetime) -> list[Alert]:
        """Fire every deadline missed by ``now`` (due strictly before it) not yet fired."""
        out = self._fire(now)
        if out:
            self._count(out)
        return out

    def _index(self, subject: str, due: datetime) -> None:
        self._indexed[subject] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, subject))

    def _fire(self, now: datetime) -> list[Alert]:
        out: list[Alert] = []
        heap = self._heap
        while heap and heap[0][0] < now:
            due, _, subject = heapq.heappop(heap)
            if self._indexed.get(subject) != due:
                continue  # stale: that subject's earliest deadline moved since
            del self._indexed[subject]
            state = self.subjects[subject]
            out.extend(self.subject_engine.due(state, now))
            nxt = state.next_due_at
            if nxt is not None:
                self._index(subject, nxt)
        return out

    def _count(self, alerts: list[Alert]) -> None:
        self._stats.alerts += len(alerts)
        self._stats.by_rule.update(a.rule for a in alerts)
