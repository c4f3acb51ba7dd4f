"""Decoding events once per worker: a small cache from bytes to the decoded event.

Decoding an event (Avro body + contract validation) costs several times what the rules
cost, and a valid event can be read up to three times in one worker: by validate on
``privacy.events``, then as the very same bytes by the actor agent on the actor topic and,
when validate could not judge it in place, by enforce on the subject repartition topic.
The cache maps those bytes to the event validate built.
Events are immutable and decoding is deterministic, so a hit is exactly what a decode
would return; a miss (another worker validated it, or it was evicted) just decodes.
"""

from __future__ import annotations

import logging
from typing import Any

from privtrail.errors import ContractError, WireError
from privtrail.wire import decode_event

log = logging.getLogger(__name__)

DEFAULT_SIZE = 50_000
"""Entries kept: far more than the records between validate and enforce at any time
(the pipeline lag), a few tens of MB."""


class EventDecoder:
    """``decode(bytes) -> event`` with a FIFO cache of the last ``size`` valid events."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._cache: dict[bytes, Any] = {}
        self.hits = 0
        self.misses = 0

    def decode(self, value: bytes) -> Any:
        """The event; :class:`WireError`/:class:`ContractError` as ``decode_event``."""
        event = self._cache.get(value)
        if event is not None:
            self.hits += 1
            return event
        self.misses += 1
        event = decode_event(value)  # raises before anything is cached
        cache = self._cache
        if len(cache) >= self._size:
            del cache[next(iter(cache))]  # the oldest: dicts keep insertion order
        cache[bytes(value)] = event
        return event

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
