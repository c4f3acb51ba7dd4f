"""Dropping re-forwarded copies of an event before they become a second Merkle leaf.

Delivery upstream is at least once: the SDK may resend an event whose acknowledgement was
lost, and a stream worker that dies re-forwards the records it had not committed. The copy
carries the same ``event_id`` and, keyed by subject, lands on the same partition of the
valid-events topic, shortly after the original. Each sink partition therefore remembers the
ids of its most recent leaves (seeded from ClickHouse when the partition is assigned) and
drops a record whose id it holds. The window is bounded; a copy arriving later than that
would be stored as a second leaf, which ``verify`` accepts and investigations collapse by
``event_id`` (docs/history.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

DEFAULT_WINDOW = 200_000
"""Ids remembered per partition: minutes of traffic at this machine's rates (~10 MB)."""


class RecentIds:
    """The last ``capacity`` ids added, with O(1) membership and eviction in add order."""

    __slots__ = ("_capacity", "_order", "_members")

    def __init__(self, capacity: int = DEFAULT_WINDOW, ids: Iterable[str] = ()) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._capacity = capacity
        self._order: deque[str] = deque()
        self._members: set[str] = set()
        for event_id in ids:
            self.add(event_id)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._members

    def __len__(self) -> int:
        return len(self._members)

    def add(self, event_id: str) -> None:
        if event_id in self._members:
            return
        self._order.append(event_id)
        self._members.add(event_id)
        if len(self._order) > self._capacity:
            self._members.discard(self._order.popleft())
