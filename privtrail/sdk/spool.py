"""The durable local spool: events wait here while the broker is unreachable.

Layout: one directory per process (held with an ``fcntl`` lock), holding append-only segment
files ``<seq>.spool``. A segment starts with the 8-byte magic ``PTSPOOL1``; each record is::

    u32 length  |  u32 CRC32(payload)  |  payload
    payload = u16 key_length (0xFFFF: no key) | key | value (the Avro-encoded event)

all big-endian. Segments roll at ``segment_bytes``; a segment is deleted only after the broker
acknowledged every record in it (the caller of :meth:`Spool.delete` decides that). On open, a
previous run's segments are scanned: a record whose header or body is cut short, or whose
checksum does not match, ends the valid part of its segment and the rest is truncated with a
warning (a crash mid-write leaves exactly that). When the discarded part is larger than a torn
record could be, it is kept beside the segment as ``<seq>.spool.corrupt`` for forensics.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from privtrail.sdk.errors import SpoolCorruptError, SpoolFullError, SpoolLockedError
from privtrail.sdk.shipmark import read_mark

log = logging.getLogger("privtrail.sdk.spool")

MAGIC = b"PTSPOOL1"
_HEADER = struct.Struct(">II")
_KEYLEN = struct.Struct(">H")
_NO_KEY = 0xFFFF
MAX_RECORD = 16 << 20  # a sane upper bound: a larger length field is garbage, not data
SUFFIX = ".spool"

FsyncPolicy = Literal["always", "interval", "never"]


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One record read back; ``segment`` and ``end`` locate it for acknowledgement."""

    key: bytes | None
    value: bytes
    segment: int
    end: int


@dataclass(frozen=True, slots=True)
class ScanResult:
    records: int
    valid_end: int
    discarded: int
    reason: str | None


def encode_record(key: bytes | None, value: bytes) -> bytes:
    if key is not None and len(key) >= _NO_KEY:
        raise ValueError("spool record key longer than 65534 bytes")
    payload = _KEYLEN.pack(_NO_KEY if key is None else len(key)) + (key or b"") + value
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _decode_payload(payload: bytes) -> tuple[bytes | None, bytes]:
    (klen,) = _KEYLEN.unpack_from(payload)
    if klen == _NO_KEY:
        return None, payload[2:]
    return payload[2 : 2 + klen], payload[2 + klen :]


_Parsed = list[tuple[bytes | None, bytes, int]]


READ_WINDOW = 4 << 20  # bytes of a segment read at a time


def segment_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:012d}{SUFFIX}"


def segments(directory: Path) -> list[int]:
    """The segment numbers in ``directory``, oldest first."""
    out = []
    for name in os.listdir(directory):
        if name.endswith(SUFFIX) and name[: -len(SUFFIX)].isdigit():
            out.append(int(name[: -len(SUFFIX)]))
    return sorted(out)


def try_lock(path: Path) -> int | None:
    """A descriptor of ``path`` (created if missing) holding an exclusive ``flock``; None
    when another process holds it. Closing the descriptor releases the lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory: the names in it) by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_records(data: bytes, start: int) -> tuple[_Parsed, int, str | None]:
    """Records in ``data[start:]``; stops at the first bad one (returns its offset + why)."""
    out: list[tuple[bytes | None, bytes, int]] = []
    pos = start
    size = len(data)
    while pos < size:
        if size - pos < _HEADER.size:
            return out, pos, "record header cut short"
        length, crc = _HEADER.unpack_from(data, pos)
        if length < _KEYLEN.size or length > MAX_RECORD:
            return out, pos, f"impossible record length {length}"
        end = pos + _HEADER.size + length
        if end > size:
            return out, pos, "record body cut short"
        payload = data[pos + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            return out, pos, "checksum mismatch"
        key, value = _decode_payload(payload)
        if key is not None and len(key) + _KEYLEN.size > length:
            return out, pos, "key longer than its record"
        out.append((key, value, end))
        pos = end
    return out, pos, None


def read_window(
    path: Path, start: int, end: int | None = None
) -> tuple[_Parsed, int, str | None, int]:
    """The complete records of segment file ``path`` from byte ``start``, reading at most
    :data:`READ_WINDOW` bytes up to ``end`` (default: the file's end), or all of them when
    a single record is larger than the window.

    Returns what :func:`parse_records` returns for the bytes read (record ends and the
    stop offset relative to ``start``), and how many bytes were read.
    """
    with path.open("rb") as fh:
        fh.seek(start)
        data = fh.read(READ_WINDOW if end is None else min(end - start, READ_WINDOW))
        records, stop, reason = parse_records(data, 0)
        if not records and len(data) == READ_WINDOW:
            # parse_records stops cleanly at the window's cut: one record larger than it
            data += fh.read() if end is None else fh.read(end - start - len(data))
            records, stop, reason = parse_records(data, 0)
    return records, stop, reason, len(data)


def scan_segment(path: Path) -> ScanResult:
    """Check a segment; raise :class:`SpoolCorruptError` when it is not a segment at all."""
    data = path.read_bytes()
    if len(data) < len(MAGIC):
        # created but the magic never fully landed: an empty segment
        return ScanResult(0, 0, len(data), "segment header cut short" if data else None)
    if data[: len(MAGIC)] != MAGIC:
        raise SpoolCorruptError(f"{path}: not a privtrail spool segment (bad magic)")
    records, valid_end, reason = parse_records(data, len(MAGIC))
    return ScanResult(len(records), valid_end, len(data) - valid_end, reason)


class Spool:
    """A bounded, append-only, checksummed spool in one directory, used by one process.

    ``append`` is thread-safe. Reading (:meth:`read`) and :meth:`delete` are meant for one
    replaying thread; reads never see a partly written record because they stop at the
    size the writer has committed.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 16 << 20,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 0.2,
        on_size: Callable[[int], None] | None = None,
        on_corrupt: Callable[[int], None] | None = None,
        sync_rolls: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self._on_size = on_size
        self._on_corrupt = on_corrupt
        # With fsync="interval": fsync a segment when it is sealed, and a new segment's
        # name. Off in process delivery, where the shipper's syncer does both, so that no
        # caller waits for an ext4 journal commit at a roll.
        self.sync_rolls = sync_rolls
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}  # seq -> committed bytes (incl. magic)
        self._total = 0  # sum of _sizes, kept so readers never iterate a changing dict
        self._active: int | None = None
        self._next_seq = 1
        self._fd: int | None = None
        self._dirty = False
        self._last_sync = time.monotonic()
        self._lock_fd: int | None = None
        self.recovered_records = 0

    # -- lifecycle ---------------------------------------------------------------------
    def check_unlocked(self) -> None:
        """:class:`SpoolLockedError` now if a live process holds the directory (a check
        only: :meth:`open` takes the lock)."""
        if not (self.directory / ".lock").exists():
            return
        fd = try_lock(self.directory / ".lock")
        if fd is None:
            raise SpoolLockedError(str(self.directory))
        os.close(fd)  # releases the lock taken here

    def open(self) -> None:
        """Lock the directory and recover what a previous run left (torn tails truncated)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = try_lock(self.directory / ".lock")
        if fd is None:
            raise SpoolLockedError(str(self.directory))
        self._lock_fd = fd
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            seq = int(path.stem)
            result = scan_segment(path)
            if result.reason is not None:
                self._truncate(path, result)
            if result.records == 0:
                path.unlink()
                continue
            self._sizes[seq] = result.valid_end
            self._total += result.valid_end
            self.recovered_records += result.records
        # Never reuse a number the shipper's mark has passed (process delivery): a new
        # segment under the mark would count as delivered.
        mark = read_mark(self.directory)
        self._next_seq = max(max(self._sizes, default=0), mark.segment if mark else 0) + 1
        if self.recovered_records:
            log.info(
                "spool %s: %d event(s) from a previous run to replay",
                self.directory,
                self.recovered_records,
            )
        self._report_size()

    def _truncate(self, path: Path, result: ScanResult) -> None:
        # A torn write is at most one record; anything larger is damage worth keeping.
        with path.open("rb") as fh:
            fh.seek(result.valid_end)
            tail = fh.read()
        torn = result.reason in ("record header cut short", "record body cut short")
        if torn or result.valid_end < len(MAGIC) or _tail_is_single_record(tail):
            log.warning(
                "spool %s: torn last record at byte %d (%s), %d byte(s) truncated",
                path,
                result.valid_end,
                result.reason,
                result.discarded,
            )
        else:
            keep = path.with_name(path.name + ".corrupt")
            keep.write_bytes(tail)
            log.error(
                "spool %s: corrupt record at byte %d (%s); %d byte(s) moved to %s",
                path,
                result.valid_end,
                result.reason,
                result.discarded,
                keep,
            )
            if self._on_corrupt is not None:
                self._on_corrupt(result.discarded)
        with path.open("r+b") as fh:
            fh.truncate(result.valid_end if result.valid_end >= len(MAGIC) else 0)
            fh.flush()
            os.fsync(fh.fileno())

    def close(self) -> None:
        with self._lock:
            self._close_active()
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None

    def _close_active(self, sync: bool = True) -> None:
        if self._fd is not None:
            if sync and self.fsync != "never" and self._dirty:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self._dirty = False
        self._active = None

    # -- writing -----------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        return self._total

    def append(self, key: bytes | None, value: bytes) -> None:
        """Append one record durably (per the fsync policy) or raise :class:`SpoolFullError`."""
        record = encode_record(key, value)
        with self._lock:
            total = self.size_bytes
            if total + len(record) + len(MAGIC) > self.max_bytes:
                total = self._forget_deleted()
                if total + len(record) + len(MAGIC) > self.max_bytes:
                    raise SpoolFullError(total, self.max_bytes, len(record))
            if self._fd is None or self._sizes[self._active or 0] + len(record) > (
                self.segment_bytes
            ):
                self._roll()
            fd, seq = self._fd, self._active
            if fd is None or seq is None:  # pragma: no cover - _roll always sets both
                raise RuntimeError("spool has no active segment")
            os.write(fd, record)
            self._sizes[seq] += len(record)
            self._total += len(record)
            self._dirty = True
            if self.fsync == "always":
                os.fsync(fd)
                self._dirty = False
        self._report_size()

    def _forget_deleted(self) -> int:
        # Process delivery: the shipper process deletes delivered segments; the writer
        # learns it here (at a roll, and before it would refuse an event as full).
        for seq in [s for s in self._sizes if s != self._active]:
            if not segment_path(self.directory, seq).exists():
                self._total -= self._sizes.pop(seq)
        return self._total

    def forget_delivered(self) -> int:
        """Drop the segments the shipper deleted from the size; returns the size."""
        with self._lock:
            return self._forget_deleted()

    def position(self) -> tuple[int, int]:
        """``(segment, bytes)`` just after the last record appended so far."""
        with self._lock:
            if self._active is None:
                last = max(self._sizes, default=self._next_seq - 1)
                return (last, self._sizes.get(last, len(MAGIC)))
            return (self._active, self._sizes[self._active])

    def _roll(self) -> None:
        sync = self.sync_rolls or self.fsync == "always"
        self._close_active(sync)
        self._forget_deleted()
        seq = self._next_seq
        self._next_seq += 1
        path = segment_path(self.directory, seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        os.write(fd, MAGIC)
        if self.fsync != "never" and sync:
            os.fsync(fd)
            fsync_path(self.directory)  # make the new name durable too
        self._fd, self._active = fd, seq
        self._sizes[seq] = len(MAGIC)
        self._total += len(MAGIC)

    def sync_if_due(self) -> None:
        """For ``fsync="interval"``: fsync the active segment when the interval has passed."""
        if self.fsync != "interval" or not self._dirty:
            return
        now = time.monotonic()
        if now - self._last_sync < self.fsync_interval:
            return
        with self._lock:
            if self._fd is not None and self._dirty:
                os.fsync(self._fd)
                self._dirty = False
            self._last_sync = now

    # -- reading and acknowledging -----------------------------------------------------
    def segments(self) -> list[int]:
        with self._lock:
            return sorted(self._sizes)

    def is_sealed(self, seq: int) -> bool:
        with self._lock:
            return seq != self._active

    def committed(self, seq: int) -> int:
        with self._lock:
            return self._sizes.get(seq, 0)

    def read(self, seq: int, offset: int, limit: int) -> list[SpoolRecord]:
        """Up to ``limit`` complete records of segment ``seq`` from ``offset`` (>= magic)."""
        end = self.committed(seq)
        start = max(offset, len(MAGIC))
        if start >= end:
            return []
        parsed, _, _, _ = read_window(segment_path(self.directory, seq), start, end)
        return [SpoolRecord(k, v, seq, start + e) for k, v, e in parsed[:limit]]

    def seal(self) -> None:
        """Close the active segment so it can be deleted; the next append starts a new one."""
        with self._lock:
            self._close_active()

    def delete(self, seq: int) -> None:
        """Remove a sealed segment whose every record the broker acknowledged."""
        with self._lock:
            if seq == self._active:
                raise ValueError("cannot delete the active spool segment; seal it first")
            self._total -= self._sizes.pop(seq, 0)
            segment_path(self.directory, seq).unlink(missing_ok=True)
        self._report_size()

    def is_empty(self) -> bool:
        with self._lock:
            return all(size <= len(MAGIC) for size in self._sizes.values())

    def _report_size(self) -> None:
        if self._on_size is not None:
            self._on_size(self.size_bytes)


def _tail_is_single_record(tail: bytes) -> bool:
    """True when ``tail`` holds nothing but one (damaged) record: a torn last write."""
    if len(tail) < _HEADER.size:
        return True
    length: int = _HEADER.unpack_from(tail)[0]
    return length <= MAX_RECORD and _HEADER.size + length >= len(tail)
