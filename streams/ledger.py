"""A table value: one key's engine state plus a short memory of what was applied.

The worker runs at least once (see docs/streams.md for why not exactly once), so a
record can be processed again after a crash, and the table's changelog may already hold
the state *after* that record. Applying it twice would be wrong (a second ``corrected``
finds no open request), and skipping it could lose its alerts (the changelog write may
have reached Kafka while the alert did not). So each value remembers the ids of the last
:data:`RECENT` operations (event ids, deadline tick ids) with the alerts they raised: a
repeated id leaves the state alone and re-sends those alerts. Alert ids are
deterministic, so a re-sent alert is recognisable downstream.

The same memory makes a repeated ``event_id`` (an SDK retry, a replayed validate step)
harmless, as the batch Engine's global seen-set does, within the last RECENT operations
of that key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from privtrail.alerts import Alert

RECENT = 64
"""Operations remembered per key: far more than a crash can replay for one key between
two offset commits at normal rates, and small enough to keep each value compact."""

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _State(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=_State)


@dataclass(slots=True)
class Ledger(Generic[S]):
    """``state`` plus ``recent``: op id -> alerts it raised (JSON form), oldest first."""

    state: S
    recent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # op id -> its ``[op_id, alerts]`` entry as JSON text. An entry never changes once
    # remembered, so it is encoded once instead of at every write of the value (up to
    # 64 entries, some with alerts); only the state is encoded afresh.
    _encoded: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def replay(self, op_id: str) -> list[Alert] | None:
        """The alerts ``op_id`` raised if it was applied already, else None."""
        stored = self.recent.get(op_id)
        if stored is None:
            return None
        return [Alert.from_json(a) for a in stored]

    def once(self, op_id: str, run: Callable[[S], list[Alert]]) -> tuple[list[Alert], bool]:
        """``run`` the operation ``op_id`` on the state unless it was applied already:
        (the alerts it raised, whether it was a replay)."""
        again = self.replay(op_id)
        if again is not None:
            return again, True
        alerts = run(self.state)
        self.remember(op_id, alerts)
        return alerts, False

    def remember(self, op_id: str, alerts: list[Alert]) -> None:
        recent = self.recent
        self._encoded.pop(op_id, None)
        recent[op_id] = [a.to_json() for a in alerts]
        while len(recent) > RECENT:
            oldest = next(iter(recent))  # dicts keep insertion order: drop the oldest
            del recent[oldest]
            self._encoded.pop(oldest, None)

    def to_bytes(self) -> bytes:
        """``{"state": ..., "recent": [[op_id, alerts], ...]}`` as compact UTF-8 JSON.

        Byte for byte what ``json.dumps(body, separators=(",", ":"), ensure_ascii=False)``
        gives, built from the cached entries.
        """
        encoded = self._encoded
        entries = []
        for op_id, alerts in self.recent.items():
            text = encoded.get(op_id)
            if text is None:
                text = encoded[op_id] = _encode([op_id, alerts])
            entries.append(text)
        # A state that can write its own JSON text (ActorState: remembered window entries)
        # does, byte for byte what encoding its dict gives.
        json_text = getattr(self.state, "json_text", None)
        state = json_text() if json_text is not None else _encode(self.state.to_dict())
        return f'{{"state":{state},"recent":[{",".join(entries)}]}}'.encode()

    @classmethod
    def from_bytes(cls, data: bytes, load: Callable[[dict[str, Any]], S]) -> Ledger[S]:
        body = json.loads(data)
        return cls(state=load(body["state"]), recent={k: v for k, v in body["recent"]})


class LedgerCache(Generic[S]):
    """Decoded ledgers by key, valid while the table still holds the same bytes object.

    Decoding the JSON state on every event costs more than the rules themselves; the
    table value we wrote is the very object we get back until a recovery replaces it,
    so an identity check tells whether the cached ledger is current.
    """

    def __init__(
        self, load: Callable[[dict[str, Any]], S], new: Callable[[str], S], limit: int = 100_000
    ) -> None:
        self._load = load
        self._new = new
        self._limit = limit
        self._items: dict[bytes, tuple[bytes, Ledger[S]]] = {}

    def get(self, key: bytes, raw: bytes | None) -> Ledger[S]:
        if raw is None:
            return Ledger(self._new(key.decode()))
        hit = self._items.get(key)
        if hit is not None and hit[0] is raw:
            return hit[1]
        return Ledger.from_bytes(raw, self._load)

    def put(self, key: bytes, raw: bytes, ledger: Ledger[S]) -> None:
        items = self._items
        if len(items) >= self._limit and key not in items:
            del items[next(iter(items))]
        items[key] = (raw, ledger)

    def __len__(self) -> int:
        return len(self._items)


S_in = TypeVar("S_in", bound=_State, contravariant=True)


class _Engine(Protocol[S_in]):
    def process(self, state: S_in, event: Any) -> list[Alert]: ...


class LedgerStep(Generic[S]):
    """Apply one event to a key's ledger, once; holds the decoded ledgers (``cache``).

    The subject and the actor agents differ only in their engine and state type.
    """

    def __init__(
        self, engine: _Engine[S], load: Callable[[dict[str, Any]], S], new: Callable[[str], S]
    ) -> None:
        self.engine = engine
        self.cache: LedgerCache[S] = LedgerCache(load, new)

    def apply(self, ledger: Ledger[S], event: Any) -> tuple[list[Alert], bool]:
        """Apply ``event`` to ``ledger`` in place, once: (alerts to send, replayed)."""
        engine = self.engine
        return ledger.once(event.event_id, lambda state: engine.process(state, event))
