"""Actor-side rules: UNAUTHORIZED_HANDLER and BULK_ACCESS, judged per staff actor.

The caller owns one :class:`ActorState` per key of :func:`actor_key` (a staff actor id,
or the ``handler_id`` of ``handler_authorized``/``handler_revoked``) and feeds it that
key's events in ``occurred_at`` order.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from privtrail.alerts import Alert
from privtrail.engine.catalog import BULK_ACCESS, STAFF_ACTIONS, UNAUTHORIZED_HANDLER
from privtrail.engine.state import ActorState
from privtrail.engine.stateless import event_alert
from privtrail.events import format_timestamp
from privtrail.policy.models import Policy

_ACCESS = frozenset({"used", "disclosed"})


def subject_key(event: Any) -> str | None:
    """The subject-side key: the subject pseudonym, or None for no-subject events."""
    subject: str | None = event.subject_id
    return subject


def actor_key(event: Any) -> str | None:
    """The actor-side key, or None when no actor-side rule applies to ``event``."""
    kind = event.type
    if kind == "handler_authorized" or kind == "handler_revoked":
        handler: str = event.handler_id
        return handler
    if kind in STAFF_ACTIONS and event.actor.kind == "staff":
        actor: str = event.actor.id
        return actor
    return None


class ActorEngine:
    """Evaluates actor-side rules and applies events to an :class:`ActorState`."""

    __slots__ = ("policy", "_index", "_window", "_limit")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._index = policy.index
        self._window: timedelta = policy.index.bulk_window.as_timedelta()
        self._limit = policy.index.bulk_max_subjects

    def new_state(self, actor_id: str) -> ActorState:
        return ActorState(actor_id=actor_id)

    def process(self, state: ActorState, event: Any) -> list[Alert]:
        kind = event.type
        if kind == "handler_authorized":
            state.roles.add(event.role)
            return []
        if kind == "handler_revoked":
            state.roles.discard(event.role)
            return []
        if kind not in STAFF_ACTIONS or event.actor.kind != "staff":
            return []
        out: list[Alert] = []
        if not state.roles:
            out.append(
                event_alert(
                    self._index,
                    UNAUTHORIZED_HANDLER,
                    event,
                    f"staff actor '{event.actor.id}' performed '{kind}' without an active "
                    "handler authorisation",
                    {"action": kind, "actor_id": event.actor.id, "role": event.actor.role},
                )
            )
        if kind in _ACCESS:
            self._bulk(state, event, out)
        return out

    def _bulk(self, state: ActorState, event: Any, out: list[Alert]) -> None:
        t = event.occurred_at
        window, counts = state.window, state.counts
        horizon = t - self._window
        # The window is the hour ending at t, half-open: (t - 1h, t].
        while window and window[0][0] <= horizon:
            _, old = window.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
        subject = event.subject_id
        window.append((t, subject))
        counts[subject] = counts.get(subject, 0) + 1
        distinct = len(counts)
        if distinct > self._limit:
            if not state.over:
                state.over = True
                out.append(
                    event_alert(
                        self._index,
                        BULK_ACCESS,
                        event,
                        f"staff actor '{event.actor.id}' accessed {distinct} distinct subjects "
                        f"within {self._index.bulk_window} (limit {self._limit})",
                        {
                            "count": distinct,
                            "limit": self._limit,
                            "window": str(self._index.bulk_window),
                            "actor_id": event.actor.id,
                            "window_start": format_timestamp(window[0][0]),
                        },
                    )
                )
        else:
            state.over = False
