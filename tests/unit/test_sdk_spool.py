"""The durable spool: round trip, torn-write recovery, corruption, the size bound, the lock."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import pytest

from privtrail.sdk.errors import SpoolCorruptError, SpoolFullError, SpoolLockedError
from privtrail.sdk.spool import MAGIC, Spool, encode_record, scan_segment

pytestmark = pytest.mark.unit


def make(path: Path, **kw: object) -> Spool:
    spool = Spool(path, **kw)  # type: ignore[arg-type]
    spool.open()
    return spool


def read_all(spool: Spool) -> list[tuple[bytes | None, bytes]]:
    out = []
    for seq in spool.segments():
        offset = len(MAGIC)
        while True:
            recs = spool.read(seq, offset, 100)
            if not recs:
                break
            out.extend((r.key, r.value) for r in recs)
            offset = recs[-1].end
    return out


def segment_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.spool"))


def test_round_trip_across_segments_and_reopen(tmp_path: Path) -> None:
    spool = make(tmp_path, segment_bytes=1024, fsync="always")
    records = [(b"key%d" % i if i % 3 else None, b"value-%d" % i * 5) for i in range(200)]
    for key, value in records:
        spool.append(key, value)
    assert len(spool.segments()) > 1  # rolled
    assert spool.size_bytes == sum(f.stat().st_size for f in segment_files(tmp_path))
    assert read_all(spool) == records
    spool.close()
    again = make(tmp_path)
    assert again.recovered_records == 200
    assert read_all(again) == records
    again.close()


def test_torn_last_record_is_truncated_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = make(tmp_path, fsync="never")
    for i in range(10):
        spool.append(b"k", b"event-%d" % i)
    spool.close()
    seg = segment_files(tmp_path)[0]
    good = seg.stat().st_size
    torn = encode_record(b"k", b"event-10")[:-3]  # crash in the middle of the write
    with seg.open("ab") as fh:
        fh.write(torn)
    with caplog.at_level(logging.WARNING, logger="privtrail.sdk.spool"):
        again = make(tmp_path)
    assert "torn last record" in caplog.text
    assert seg.stat().st_size == good
    assert [v for _, v in read_all(again)] == [b"event-%d" % i for i in range(10)]
    assert not list(tmp_path.glob("*.corrupt"))
    again.close()


def test_torn_header_is_truncated(tmp_path: Path) -> None:
    spool = make(tmp_path)
    spool.append(None, b"only")
    spool.close()
    seg = segment_files(tmp_path)[0]
    with seg.open("ab") as fh:
        fh.write(b"\x00\x00")  # two bytes of the next length field
    again = make(tmp_path)
    assert read_all(again) == [(None, b"only")]
    again.close()


def test_last_record_with_bad_checksum_is_torn_not_data(tmp_path: Path) -> None:
    spool = make(tmp_path)
    spool.append(b"k", b"first")
    spool.append(b"k", b"second")
    spool.close()
    seg = segment_files(tmp_path)[0]
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF  # the last page landed half-written
    seg.write_bytes(bytes(data))
    again = make(tmp_path)
    assert read_all(again) == [(b"k", b"first")]
    again.close()


def test_corruption_in_the_middle_is_kept_aside_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt: list[int] = []
    spool = make(tmp_path)
    for i in range(20):
        spool.append(b"k", b"event-%02d" % i)
    spool.close()
    seg = segment_files(tmp_path)[0]
    data = bytearray(seg.read_bytes())
    rec = len(encode_record(b"k", b"event-00"))
    data[len(MAGIC) + 5 * rec + 12] ^= 0x01  # flip a bit inside record 5's payload
    seg.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="privtrail.sdk.spool"):
        again = Spool(tmp_path, on_corrupt=corrupt.append)
        again.open()
    assert "corrupt record" in caplog.text
    assert corrupt == [15 * rec]
    assert [v for _, v in read_all(again)] == [b"event-%02d" % i for i in range(5)]
    kept = tmp_path / (seg.name + ".corrupt")
    assert kept.read_bytes() == bytes(data[len(MAGIC) + 5 * rec :])
    again.close()


def test_impossible_length_is_detected(tmp_path: Path) -> None:
    seg = tmp_path / "000000000001.spool"
    body = encode_record(None, b"ok")
    seg.write_bytes(MAGIC + body + struct.pack(">II", 0xFFFFFFF0, 0) + b"x" * 40)
    result = scan_segment(seg)
    assert result.records == 1
    assert result.reason == "impossible record length 4294967280"
    assert result.valid_end == len(MAGIC) + len(body)


def test_checksum_is_crc32_of_payload(tmp_path: Path) -> None:
    rec = encode_record(b"ab", b"xyz")
    length, crc = struct.unpack(">II", rec[:8])
    assert rec[8:] == b"\x00\x02abxyz"
    assert length == 7 and crc == zlib.crc32(b"\x00\x02abxyz")


def test_not_a_segment_is_refused_untouched(tmp_path: Path) -> None:
    seg = tmp_path / "000000000001.spool"
    seg.write_bytes(b"something else entirely")
    with pytest.raises(SpoolCorruptError, match="bad magic"):
        make(tmp_path)
    assert seg.read_bytes() == b"something else entirely"


def test_size_bound_raises_and_records_nothing(tmp_path: Path) -> None:
    sizes: list[int] = []
    spool = make(tmp_path, max_bytes=4096, on_size=sizes.append)
    accepted = 0
    with pytest.raises(SpoolFullError) as info:
        while True:
            spool.append(b"k", b"x" * 200)
            accepted += 1
    assert info.value.max_bytes == 4096
    assert info.value.spool_bytes <= 4096
    assert "PRIVTRAIL_SPOOL_MAX_BYTES" in str(info.value)
    assert spool.size_bytes <= 4096
    assert len(read_all(spool)) == accepted
    assert sizes[-1] == spool.size_bytes
    spool.close()


def test_delete_frees_space_and_refuses_the_active_segment(tmp_path: Path) -> None:
    spool = make(tmp_path, segment_bytes=1024)
    for _ in range(30):
        spool.append(None, b"y" * 100)
    first, *rest = spool.segments()
    before = spool.size_bytes
    spool.delete(first)
    assert spool.size_bytes < before
    assert spool.size_bytes == sum(f.stat().st_size for f in segment_files(tmp_path))
    with pytest.raises(ValueError, match="active"):
        spool.delete(rest[-1])
    spool.seal()
    spool.delete(rest[-1])
    spool.close()


def test_lock_is_per_directory(tmp_path: Path) -> None:
    first = make(tmp_path / "a")
    with pytest.raises(SpoolLockedError):
        make(tmp_path / "a")
    other = make(tmp_path / "b")  # a different directory is fine
    first.close()
    make(tmp_path / "a").close()  # released on close
    other.close()
