"""Decoding events once per worker: a small cache from bytes to the decoded event.

Decoding an event (Avro body + contract validation) costs several times what the rules
cost, and a valid event can be read again in the same worker: as the very same bytes by
the actor agent on the actor topic and, when validate could not judge it in place, by
enforce on the subject repartition topic. Validate :meth:`EventDecoder.remember` s the
events it sends to those topics, and the agents that read them take the event from here.
Events are immutable and decoding is deterministic, so a hit is exactly what a decode
would return; a miss (another worker validated it, or it was evicted) just decodes.

Only those events are kept, not every event validate decodes: an event judged in place
with no actor-side rule is never read again, and caching it anyway made the cache the
bulk of the worker's heap (half a million objects at 50,000 entries), which Python's
cyclic garbage collector walks again and again (docs/streams.md, Performance).
"""

from __future__ import annotations

import logging
from typing import Any

from privtrail.errors import ContractError, WireError
from privtrail.wire import decode_event

log = logging.getLogger(__name__)

DEFAULT_SIZE = 20_000
"""Entries kept: more than the records between validate and the agents that read its
output again at any time (the pipeline lag), about ten MB."""


class EventDecoder:
    """``decode(bytes) -> event`` with a FIFO cache of the last ``size`` remembered events."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._cache: dict[bytes, Any] = {}
        self.hits = 0
        self.misses = 0

    def decode(self, value: bytes) -> Any:
        """The event; :class:`WireError`/:class:`ContractError` as ``decode_event``.

        A remembered event is returned from the cache; anything else is decoded, and not
        cached (whoever decodes it knows whether it will be read again).
        """
        event = self._cache.get(value)
        if event is not None:
            self.hits += 1
            return event
        self.misses += 1
        return decode_event(value)

    def remember(self, value: bytes, event: Any) -> None:
        """Keep ``event``, decoded from ``value``, for the agent that will read ``value``
        again (the oldest entry goes when the cache is full)."""
        cache = self._cache
        if value in cache:
            return
        if len(cache) >= self._size:
            del cache[next(iter(cache))]  # the oldest: dicts keep insertion order
        cache[bytes(value)] = event

    def decode_record(self, record: Any) -> Any | None:
        """The event of a Faust stream record, or None (logged) when it cannot be decoded.

        Only the validate agent writes the topics enforce and the actor agent read, so a
        record that does not decode there comes from a foreign writer: skipped, not fatal.
        """
        try:
            return self.decode(record.value)
        except (WireError, ContractError) as exc:
            message = record.message
            log.error(
                "undecodable record on %s[%d]@%d skipped: %s",
                message.topic,
                message.partition,
                message.offset,
                exc,
            )
            return None

    def __len__(self) -> int:
        return len(self._cache)
