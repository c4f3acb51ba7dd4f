"""``privtrail verify``: recompute every partition's Merkle tree and hold it to its signatures.

For each partition of the log topic:

* every signed checkpoint is opened with the trusted verifier keys (a forged or edited
  checkpoint row is reported);
* the rows are streamed in leaf order as packed bytes (``RowBinary`` -> ``struct``), never as
  per-row dicts: the server recomputes each leaf from ``event_json`` (SHA-256 of 0x00 || JSON)
  and compares the typed columns with the JSON, so only 57 bytes per row cross the wire;
* leaf indexes must run 0..n-1 with no gap (a removed row) and no repeat (an inserted row);
* the tree is rebuilt chunk by chunk and its root at every checkpoint size must equal the
  signed root; a mismatch there (a row edited *and* re-hashed) is narrowed to the leaves
  between the last matching checkpoint and that one;
* rows past the newest checkpoint are not vouched for by any signature and fail the check
  unless ``allow_pending`` (a sink is running and has not checkpointed them yet).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from privtrail.sinks.compact import CompactRange
from privtrail.sinks.rows import columns_check_sql, columns_from_mask, rebuilt_json_sql
from privtrail.sinks.store import CHECKPOINTS, EVENTS, iter_records
from privtrail.tlog import NoteVerifier, VerificationError, open_checkpoint

_ROW = "<Q32sQBB"  # leaf_index, leaf_hash, kafka_offset, hash_ok, columns_ok
# toJSONString must escape like Python's json.dumps, which leaves '/' alone.
_SETTINGS = {"output_format_json_escape_forward_slashes": 0}
_MAX_DETAIL = 10_000  # rows examined column by column; more are reported without names
_CHUNK = 1 << 16
_WHERE = "log_topic = {t:String} AND log_partition = {p:UInt32}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. ``index`` is the leaf index (or the first of a range) when known."""

    partition: int
    index: int | None
    kind: str  # changed | removed | inserted | root_mismatch | bad_checkpoint | unsigned
    detail: str

    def render(self) -> str:
        where = f"partition {self.partition}" + (
            f" index {self.index}" if self.index is not None else ""
        )
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(slots=True)
class PartitionReport:
    partition: int
    rows: int = 0
    checkpoints: int = 0
    verified_size: int = 0
    """Largest tree size whose recomputed root matched a signed checkpoint."""
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class VerifyReport:
    topic: str
    partitions: list[PartitionReport] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [p for part in self.partitions for p in part.problems]

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = []
        for part in self.partitions:
            lines.append(
                f"partition {part.partition}: {part.rows} rows, {part.checkpoints} signed "
                f"checkpoints, verified up to tree size {part.verified_size}"
            )
        lines.extend(p.render() for p in self.problems)
        lines.append("OK" if self.ok else f"FAILED: {len(self.problems)} problem(s)")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(
            {
                "topic": self.topic,
                "ok": self.ok,
                "partitions": [asdict(p) for p in self.partitions],
            },
            indent=2,
        )


def _partitions(client: Any, topic: str) -> list[int]:
    rows = client.query(
        f"SELECT DISTINCT log_partition FROM {EVENTS} WHERE log_topic = {{t:String}} "
        f"UNION DISTINCT SELECT DISTINCT log_partition FROM {CHECKPOINTS} "
        "WHERE log_topic = {t:String}",
        parameters={"t": topic},
    ).result_rows
    return sorted(int(r[0]) for r in rows)


def _signed_roots(
    client: Any,
    topic: str,
    partition: int,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    report: PartitionReport,
) -> dict[int, bytes]:
    """Tree size -> root of every checkpoint whose signature verifies for this origin."""
    rows = client.query(
        f"SELECT tree_size, root_hash, note FROM {CHECKPOINTS} WHERE {_WHERE} "
        "ORDER BY tree_size, created_at",
        parameters={"t": topic, "p": partition},
    ).result_rows
    roots: dict[int, bytes] = {}
    for size, root, note in rows:
        root_bytes = root if isinstance(root, bytes) else str(root).encode("latin-1")
        try:
            cp = open_checkpoint(str(note).encode(), verifiers, origin=origin)
            if cp.size != size or cp.root_hash != root_bytes:
                raise VerificationError("its columns disagree with its signed note")
        except VerificationError as exc:
            report.problems.append(
                Problem(partition, None, "bad_checkpoint", f"checkpoint row at size {size}: {exc}")
            )
            continue
        if roots.get(cp.size, cp.root_hash) != cp.root_hash:
            report.problems.append(
                Problem(partition, None, "bad_checkpoint",
                        f"two validly signed checkpoints of size {cp.size} disagree (a fork)")
            )  # fmt: skip
        roots[cp.size] = cp.root_hash
        report.checkpoints += 1
    return roots


def _rows_query() -> str:
    return (
        "SELECT leaf_index, leaf_hash, kafka_offset, "
        "SHA256(concat(char(0), event_json)) = leaf_hash AS hash_ok, "
        f"({rebuilt_json_sql()}) = event_json AS columns_ok "
        f"FROM {EVENTS} WHERE {_WHERE} ORDER BY leaf_index, kafka_offset"
    )


def _column_problems(client: Any, topic: str, partition: int, suspects: list[int]) -> list[Problem]:
    """Name the disagreeing columns of the rows the fast check flagged (JSON parsed here)."""
    rows = client.query(
        f"SELECT leaf_index, column_mask FROM (SELECT leaf_index, {columns_check_sql()} "
        f"FROM {EVENTS} WHERE {_WHERE} AND leaf_index IN {{i:Array(UInt64)}}) "
        "WHERE column_mask != 0 ORDER BY leaf_index",
        parameters={"t": topic, "p": partition, "i": suspects[:_MAX_DETAIL]},
    ).result_rows
    out = [
        Problem(partition, int(index), "changed",
                f"column(s) {', '.join(columns_from_mask(int(mask)))} disagree with event_json")
        for index, mask in rows
    ]  # fmt: skip
    out.extend(
        Problem(partition, index, "changed", "typed columns disagree with event_json")
        for index in suspects[_MAX_DETAIL:]
    )
    return out


def verify_partition(
    client: Any,
    topic: str,
    partition: int,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    *,
    allow_pending: bool = False,
) -> PartitionReport:
    report = PartitionReport(partition)
    problems = report.problems
    roots = _signed_roots(client, topic, partition, verifiers, origin, report)
    sizes = sorted(roots)
    next_cp = 0  # position in `sizes` of the next checkpoint to check
    compact = CompactRange()
    chunk: list[bytes] = []
    expected = 0
    broken = False  # after a gap the tree cannot be recomputed; row checks go on
    last_good = 0

    def check_roots_at(size: int) -> None:
        nonlocal next_cp, last_good, chunk, broken
        while next_cp < len(sizes) and sizes[next_cp] <= size:
            cp_size = sizes[next_cp]
            next_cp += 1
            if cp_size < size or broken:
                continue
            compact.extend(chunk)
            chunk = []
            if compact.root() == roots[cp_size]:
                last_good = report.verified_size = cp_size
            else:
                problems.append(
                    Problem(partition, last_good, "root_mismatch",
                            f"leaves [{last_good}, {cp_size}) do not hash to the root signed at "
                            f"tree size {cp_size}: a row there was changed and re-hashed")
                )  # fmt: skip
                broken = True

    check_roots_at(0)
    suspects: list[int] = []
    query = _rows_query()
    for index, digest, _offset, hash_ok, columns_ok in iter_records(
        client, query, {"t": topic, "p": partition}, _ROW, _SETTINGS
    ):
        report.rows += 1
        if index < expected:
            problems.append(
                Problem(partition, index, "inserted",
                        "a second row with this leaf index (inserted behind the sink's back)")
            )  # fmt: skip
            continue
        if index > expected:
            span = f"{expected}" if index == expected + 1 else f"{expected}..{index - 1}"
            problems.append(
                Problem(partition, expected, "removed", f"leaf index(es) {span} missing")
            )
            broken = True
            expected = index
        if not hash_ok:
            problems.append(
                Problem(partition, index, "changed",
                        "event_json does not hash to the stored leaf_hash")
            )  # fmt: skip
        if not columns_ok:
            suspects.append(index)
        expected = index + 1
        if not broken:
            chunk.append(digest)
            if len(chunk) >= _CHUNK:
                compact.extend(chunk)
                chunk = []
            if next_cp < len(sizes) and sizes[next_cp] == expected:
                check_roots_at(expected)
    if suspects:
        problems.extend(_column_problems(client, topic, partition, suspects))
        problems.sort(key=lambda p: (p.index is None, p.index or 0))
    size = expected
    for cp_size in sizes[next_cp:]:
        if cp_size > size:
            problems.append(
                Problem(partition, size, "removed",
                        f"a signed checkpoint covers {cp_size} leaves but only {size} are stored")
            )  # fmt: skip
            break
    newest = sizes[-1] if sizes else 0
    if size > newest and not allow_pending:
        problems.append(
            Problem(partition, newest, "unsigned",
                    f"leaves [{newest}, {size}) are not covered by any signed checkpoint "
                    "(inserted out of band, or not yet checkpointed: see --allow-pending)")
        )  # fmt: skip
    return report


def verify_history(
    client: Any,
    topic: str,
    verifiers: Sequence[NoteVerifier],
    *,
    origin: Callable[[str, int], str],
    partition: int | None = None,
    allow_pending: bool = False,
    connect: Callable[[], Any] | None = None,
    workers: int = 1,
) -> VerifyReport:
    """Verify one partition or all of them; read-only (the investigator user suffices).

    With ``connect`` (a client factory), up to ``workers`` partitions are verified at once,
    each on its own connection: the server-side hashing then runs on several cores.
    """
    report = VerifyReport(topic)
    parts = [partition] if partition is not None else _partitions(client, topic)

    def one(p: int, c: Any) -> PartitionReport:
        return verify_partition(
            c, topic, p, verifiers, origin(topic, p), allow_pending=allow_pending
        )

    if connect is None or workers < 2 or len(parts) < 2:
        report.partitions.extend(one(p, client) for p in parts)
        return report
    local = threading.local()

    def run(p: int) -> PartitionReport:
        if not hasattr(local, "client"):
            local.client = connect()
        return one(p, local.client)

    with ThreadPoolExecutor(max_workers=min(workers, len(parts))) as pool:
        report.partitions.extend(pool.map(run, parts))
    return report
