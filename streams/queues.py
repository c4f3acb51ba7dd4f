"""Stream buffers that, once full, take new records again only after draining halfway.

Faust's consumer hands records to the agents' buffers (bounded queues of
``stream_buffer_maxsize``) one by one. Under a backlog a buffer stays full: the agent
takes one record, the consumer puts one back, and every hand-over that finds the
buffer full takes Faust's expensive path (a task and ``asyncio.wait`` in the
conductor, then the consumer's ``wait_first``: several more tasks). Profiles of a
backlogged worker show one such hand-over in five.

:class:`LowWaterQueue` adds hysteresis: once full, it reports itself full until it
has drained to half, and only then wakes the waiting producer. So the consumer waits
once, then finds room for half a buffer of records: one expensive hand-over per
``maxsize / 2`` records instead of one per few.

Nothing else changes: the same items in the same order, never more than ``maxsize``
of them, the same flow control and error throwing (it is Faust's ``ThrowableQueue``).
A waiting producer still wakes while the queue is being consumed, only later; a
cleared queue (a rebalance) forgets that it was full.
"""

from __future__ import annotations

from typing import Any

from mode.utils.queues import ThrowableQueue


class LowWaterQueue(ThrowableQueue[Any]):
    """A ``ThrowableQueue`` that, once full, stays full until drained to half."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._low_water = self.maxsize // 2
        self._refilling = False  # True from full until drained to the low-water mark

    def full(self) -> bool:
        if self._refilling:
            return True
        if super().full():  # never for an unbounded queue (maxsize <= 0)
            self._refilling = True
            return True
        return False

    def _wakeup_next(self, waiters: Any) -> None:
        # asyncio.Queue calls this after every get (with its putters) and put (getters).
        if waiters is self._putters:
            if self._refilling and self.qsize() > self._low_water:
                return
            self._refilling = False
        super()._wakeup_next(waiters)  # type: ignore[misc]  # asyncio.Queue's, untyped

    def clear(self) -> None:
        super().clear()
        self._refilling = False
