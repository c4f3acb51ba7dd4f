"""The shipper's mark: how far the spool has been delivered, and the shipper's state.

In process delivery (:mod:`privtrail.sdk.shipper`) the shipper process writes this small
JSON file in the spool directory; the client reads it to answer ``flush()``, to update its
metrics and to see whether the broker is up. The position is ``(segment, offset)``: every
record of the spool before it was acknowledged by the broker. Segments below ``segment``
are fully delivered (the shipper deletes them); ``offset`` is a byte offset in ``segment``.

Written by replacing the file (write a temporary file, rename), so a reader sees the old
mark or the new one, never half of one. It is not fsynced: a mark lost in a power cut only
means records after the older mark are sent again, which ``event_id`` makes harmless.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

MARK_FILE = ".shipped"


@dataclass(frozen=True, slots=True)
class ShipMark:
    """The shipper's last reported state (counts are totals since the shipper started)."""

    segment: int = 0
    offset: int = 0
    sent: int = 0
    failed: int = 0
    resent: int = 0
    broker_up: bool = True
    pid: int = 0

    @property
    def position(self) -> tuple[int, int]:
        return (self.segment, self.offset)

    def covers(self, segment: int, offset: int) -> bool:
        """True when everything before ``(segment, offset)`` was acknowledged."""
        return (self.segment, self.offset) >= (segment, offset)


def read_mark(directory: Path) -> ShipMark | None:
    """The mark in ``directory``; None when there is none. ValueError for a file of that
    name that is not a mark (a mark is never seen half written: it is replaced whole)."""
    try:
        data = json.loads((directory / MARK_FILE).read_bytes())
        return ShipMark(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{directory / MARK_FILE}: not a shipper mark ({exc})") from exc


def write_mark(directory: Path, mark: ShipMark) -> None:
    tmp = directory / f"{MARK_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(mark)))
    os.replace(tmp, directory / MARK_FILE)
