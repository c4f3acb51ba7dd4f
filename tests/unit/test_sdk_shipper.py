"""The shipper's reading, marking and deleting, with a recording producer (no broker).

The shipper against the real broker, and either process being killed, is in
tests/integration/test_sdk_kafka.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privtrail.sdk.errors import SdkConfigError
from privtrail.sdk.settings import DeliveryOptions
from privtrail.sdk.shipmark import ShipMark, read_mark, write_mark
from privtrail.sdk.shipper import Shipper, ShipperConfig
from privtrail.sdk.spool import MAGIC, Spool, encode_record, segment_path, segments

pytestmark = pytest.mark.unit


class Future:
    def __init__(self) -> None:
        self.is_done = False
        self.ok = True
        self.exception: Exception | None = None

    def succeeded(self) -> bool:
        return self.ok


class Producer:
    """Records sends; the test decides when (and whether) they are acknowledged."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes, Future]] = []

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> Future:
        future = Future()
        self.sent.append((key, value, future))
        return future

    def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def ack_all(self) -> None:
        for _, _, future in self.sent:
            future.is_done = True

    def flush(self, timeout: float | None = None) -> None:
        self.ack_all()

    def close(self, timeout: float | None = None) -> None:
        pass


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    import privtrail.sdk.shipper as module

    monkeypatch.setattr(module, "_MARK_EVERY", 0.0)  # a mark at every turn
    monkeypatch.setattr(module, "_RETRY_BACKOFF", 0.0)


def values(producer: Producer) -> list[bytes]:
    return [value for _, value, _ in producer.sent]


def shipper(directory: Path, producer: Producer, final: list[bool], **kw: Any) -> Shipper:
    config = ShipperConfig(bootstrap="unused:9", topic="t", spool_dir=str(directory), **kw)
    return Shipper(config, producer_factory=lambda: producer, final=lambda: final[0])


def spool(directory: Path, segment_bytes: int = 1 << 20) -> Spool:
    s = Spool(directory, segment_bytes=segment_bytes, fsync="never")
    s.open()
    return s


def test_it_sends_the_spool_in_order_across_segments_and_deletes_what_is_delivered(
    tmp_path: Path,
) -> None:
    writer = spool(tmp_path, segment_bytes=200)  # a few records per segment
    expected = [f"event-{n:03d}".encode() * 4 for n in range(30)]
    for n, value in enumerate(expected):
        writer.append(f"k{n % 3}".encode(), value)
    assert len(segments(tmp_path)) > 3
    producer, final = Producer(), [False]
    ship = shipper(tmp_path, producer, final)
    for _ in range(50):
        ship.turn()
        producer.ack_all()
    assert values(producer) == expected  # once each, in spool order
    # every segment but the one being written is delivered and gone
    assert segments(tmp_path) == [writer.position()[0]]
    mark = read_mark(tmp_path)
    assert mark is not None and mark.covers(*writer.position()) and mark.sent == 30
    assert ship.caught_up()  # all that was appended is acknowledged
    # the writer is done: the last segment goes too
    writer.close()
    final[0] = True
    ship.turn()
    assert ship.caught_up() and segments(tmp_path) == []
    # and a new writer never reuses a number under the mark
    again = spool(tmp_path)
    again.append(None, b"after")
    assert again.position()[0] > mark.segment


def test_nothing_is_marked_delivered_before_the_broker_acknowledges_it(tmp_path: Path) -> None:
    writer = spool(tmp_path)
    for n in range(5):
        writer.append(None, b"v%d" % n)
    producer, final = Producer(), [False]
    ship = shipper(tmp_path, producer, final)
    ship.turn()
    ship.turn()
    assert len(producer.sent) == 5
    mark = read_mark(tmp_path)
    assert mark is None or mark.position < (1, len(MAGIC) + 1)
    producer.sent[0][2].is_done = True
    producer.sent[1][2].is_done = True
    ship.turn()
    mark = read_mark(tmp_path)
    assert mark is not None
    end_of_two = len(MAGIC) + len(encode_record(None, b"v0")) + len(encode_record(None, b"v1"))
    assert mark.position == (1, end_of_two) and mark.sent == 2


def test_a_failed_send_sends_again_from_the_first_unacknowledged_record(tmp_path: Path) -> None:
    writer = spool(tmp_path)
    for n in range(4):
        writer.append(None, b"v%d" % n)
    producer, final = Producer(), [False]
    ship = shipper(tmp_path, producer, final)
    ship.turn()
    first, second = producer.sent[0][2], producer.sent[1][2]
    first.is_done = True
    second.is_done, second.ok = True, False
    second.exception = TimeoutError("expired")
    ship.turn()  # settles the failure and starts again from v1
    ship.turn()
    assert values(producer)[:4] == [b"v0", b"v1", b"v2", b"v3"]
    assert values(producer)[4:] == [b"v1", b"v2", b"v3"]
    assert ship.failed == 1 and not ship.broker.up
    producer.ack_all()
    ship.turn()
    mark = read_mark(tmp_path)
    # v0 once; v1 failed and went again; v2 and v3 went twice (their first futures are
    # dropped with the restart): three acknowledged resends, and the broker is back
    assert mark is not None and mark.sent == 4 and mark.resent == 3 and mark.broker_up


def test_a_torn_record_waits_while_written_and_is_skipped_once_the_segment_is_final(
    tmp_path: Path,
) -> None:
    writer = spool(tmp_path)
    writer.append(None, b"whole")
    writer.close()
    record = encode_record(None, b"torn-in-half")
    with segment_path(tmp_path, 1).open("ab") as fh:
        fh.write(record[: len(record) // 2])  # a writer died mid-append
    producer, final = Producer(), [False]
    ship = shipper(tmp_path, producer, final)
    for _ in range(3):
        ship.turn()
        producer.ack_all()
    assert values(producer) == [b"whole"]
    assert not ship.caught_up()  # the rest may still be being written
    final[0] = True
    for _ in range(3):
        ship.turn()
    assert values(producer) == [b"whole"] and ship.caught_up()
    assert ship.failed == 0  # torn, not damaged


def test_marks_round_trip_and_a_foreign_file_is_an_error(tmp_path: Path) -> None:
    assert read_mark(tmp_path) is None
    write_mark(tmp_path, ShipMark(segment=3, offset=90, sent=7, broker_up=False, pid=42))
    mark = read_mark(tmp_path)
    assert mark == ShipMark(segment=3, offset=90, sent=7, failed=0, broker_up=False, pid=42)
    assert mark.covers(3, 90) and mark.covers(2, 10_000) and not mark.covers(3, 91)
    (tmp_path / ".shipped").write_text("not json")
    with pytest.raises(ValueError, match="not a shipper mark"):
        read_mark(tmp_path)


def test_process_delivery_settings() -> None:
    config = ShipperConfig(bootstrap="b:1", topic="t", spool_dir="/x", producer_config={"a": 1})
    assert ShipperConfig.from_json(config.to_json()) == config
    with pytest.raises(SdkConfigError, match="delivery"):
        DeliveryOptions(delivery="fork")  # type: ignore[arg-type]


def test_process_delivery_refuses_producer_settings_that_cannot_cross_to_the_shipper(
    tmp_path: Path,
) -> None:
    from privtrail.sdk.client import shipper_config

    with pytest.raises(SdkConfigError, match=r"producer_config\.partitioner.*not JSON"):
        shipper_config(
            "b:1", "t", tmp_path, {"partitioner": object()}, DeliveryOptions(delivery="process")
        )


def test_the_shippers_syncer_makes_rolled_segments_and_their_names_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from privtrail.sdk.shipper import SegmentSyncer

    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    # process delivery's writer: no fsync of its own with fsync="interval", not even at a roll
    writer = Spool(tmp_path, segment_bytes=120, fsync="interval", sync_rolls=False)
    writer.open()
    writer.append(None, b"a" * 50)
    assert synced == []
    syncer = SegmentSyncer(tmp_path, interval=60)
    syncer.sync()
    assert synced == [tmp_path.name, segment_path(tmp_path, 1).name]  # its name, its bytes
    synced.clear()
    syncer.sync()
    assert synced == []  # nothing new
    for _ in range(2):  # rolls twice: 1 -> 2 -> 3
        writer.append(None, b"b" * 50)
    assert segments(tmp_path) == [1, 2, 3] and synced == []
    syncer.sync()
    names = [segment_path(tmp_path, n).name for n in (1, 2, 3)]
    assert synced == [names[0], names[1], tmp_path.name, names[2]]
    syncer.stop()
    writer.close()


def test_a_second_live_client_on_a_spool_is_refused_at_once(tmp_path: Path) -> None:
    import time

    from prometheus_client import CollectorRegistry

    from privtrail.sdk import AuditClient, SpoolLockedError

    def client() -> AuditClient:
        return AuditClient(
            bootstrap="127.0.0.1:9",  # nothing listens: events stay in the spool
            service="twice",
            spool_dir=tmp_path / "spool",
            dev_mode=True,
            registry=CollectorRegistry(),
            options=DeliveryOptions(delivery="process", broker_timeout=0.5),
        )

    first = client()
    try:
        started = time.monotonic()
        with pytest.raises(SpoolLockedError):
            client()
        assert time.monotonic() - started < 5  # not after waiting for the first's shipper
    finally:
        first.close(0.5)


def test_the_shipper_process_imports_neither_the_client_nor_pydantic() -> None:
    # It runs next to every service: only the spool and the producer, not the contract,
    # the policy or the client (privtrail.sdk's names load lazily).
    import subprocess
    import sys

    code = (
        "import sys, privtrail.sdk.shipper; "
        "print(' '.join(m for m in ('pydantic', 'fastavro', 'privtrail.sdk.client', "
        "'privtrail.policy', 'privtrail.events') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
