"""``privtrail prove``: proof bundles a regulator can check offline.

An inclusion bundle (:class:`privtrail.tlog.ProofBundle`) carries the event's canonical JSON,
its leaf index, the audit path and the newest signed checkpoint of its partition; the
standalone ``tools/privtrail_verify_proof.py`` checks it with no access to ClickHouse.
A consistency bundle shows an older checkpoint's tree is a prefix of a newer one's.
Both are verified here before they are printed, so a bundle that would not verify offline
(because stored rows no longer match their signatures) is an error, not an output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from privtrail.errors import PrivtrailError
from privtrail.sinks.store import CHECKPOINTS, EVENTS, iter_records
from privtrail.tlog import (
    ConsistencyBundle,
    NoteVerifier,
    ProofBundle,
    VerificationError,
    open_checkpoint,
)

_WHERE = "log_topic = {t:String} AND log_partition = {p:UInt32}"


class ProveError(PrivtrailError):
    """No proof can be given (unknown event, no checkpoint yet, history does not verify)."""


def leaf_hashes(client: Any, topic: str, partition: int, size: int) -> list[bytes]:
    """The partition's first ``size`` leaf hashes, in leaf order (all must be present)."""
    hashes: list[bytes] = []
    query = (
        f"SELECT leaf_index, leaf_hash FROM {EVENTS} WHERE {_WHERE} "
        "AND leaf_index < {n:UInt64} ORDER BY leaf_index"
    )
    for index, digest in iter_records(
        client, query, {"t": topic, "p": partition, "n": size}, "<Q32s"
    ):
        if index != len(hashes):
            raise ProveError(
                f"partition {partition}: leaf index {index} where {len(hashes)} was expected; "
                "the history does not verify (run 'privtrail verify')"
            )
        hashes.append(digest)
    if len(hashes) != size:
        raise ProveError(f"partition {partition}: {len(hashes)} leaves stored, {size} signed")
    return hashes


def _open(note: bytes, verifiers: Sequence[NoteVerifier]) -> NoteVerifier:
    """The trusted verifier that signed ``note``."""
    for verifier in verifiers:
        try:
            open_checkpoint(note, [verifier])
        except VerificationError:
            continue
        return verifier
    raise ProveError("the checkpoint is not signed by any trusted verifier key")


def prove_event(
    client: Any, event_id: str, verifiers: Sequence[NoteVerifier], *, topic: str | None = None
) -> str:
    """The proof bundle JSON for ``event_id`` against its partition's newest checkpoint."""
    where = "event_id = {e:String}" + (" AND log_topic = {t:String}" if topic else "")
    found = client.query(
        f"SELECT DISTINCT log_topic, log_partition, leaf_index, event_json FROM {EVENTS} "
        f"WHERE {where} LIMIT 2",
        parameters={"e": event_id, "t": topic or ""},
    ).result_rows
    if not found:
        raise ProveError(f"no event with id {event_id!r} in the history")
    if len(found) > 1:
        raise ProveError(f"event id {event_id!r} appears at more than one position; use --topic")
    log_topic, partition, index, event_json = found[0]
    cps = client.query(
        f"SELECT note FROM {CHECKPOINTS} WHERE {_WHERE} AND tree_size > {{i:UInt64}} "
        "ORDER BY tree_size DESC, created_at DESC LIMIT 1",
        parameters={"t": log_topic, "p": partition, "i": index},
    ).result_rows
    if not cps:
        raise ProveError(
            f"event {event_id!r} (partition {partition}, index {index}) is not covered by a "
            "signed checkpoint yet; the sink writes one at least once a minute"
        )
    note = str(cps[0][0]).encode()
    verifier = _open(note, verifiers)
    size = open_checkpoint(note, [verifier]).size
    hashes = leaf_hashes(client, log_topic, partition, size)
    try:
        bundle = ProofBundle.build(str(event_json).encode(), index, hashes, note, verifier)
    except VerificationError as exc:
        raise ProveError(f"the stored history does not match its checkpoint: {exc}") from exc
    return bundle.to_json()


def prove_consistency(
    client: Any,
    topic: str,
    partition: int,
    old_size: int,
    new_size: int,
    verifiers: Sequence[NoteVerifier],
) -> str:
    """A consistency bundle between the signed checkpoints of sizes ``old_size``/``new_size``,
    with both signed notes and the verifier key alongside."""
    if not 0 <= old_size <= new_size:
        raise ProveError(f"need 0 <= OLD_SIZE <= NEW_SIZE, got {old_size} and {new_size}")
    notes: dict[int, bytes] = {}
    for size in (old_size, new_size):
        rows = client.query(
            f"SELECT note FROM {CHECKPOINTS} WHERE {_WHERE} AND tree_size = {{n:UInt64}} "
            "ORDER BY created_at LIMIT 1",
            parameters={"t": topic, "p": partition, "n": size},
        ).result_rows
        if not rows:
            raise ProveError(f"partition {partition} has no signed checkpoint of size {size}")
        notes[size] = str(rows[0][0]).encode()
    verifier = _open(notes[new_size], verifiers)
    hashes = leaf_hashes(client, topic, partition, new_size)
    bundle = ConsistencyBundle.build(hashes, old_size, new_size)
    try:
        bundle.verify(notes[old_size], notes[new_size], [verifier])
    except VerificationError as exc:
        raise ProveError(f"the checkpoints are not consistent: {exc}") from exc
    out = json.loads(bundle.to_json())
    out["old_checkpoint"] = notes[old_size].decode()
    out["new_checkpoint"] = notes[new_size].decode()
    out["verifier_key"] = verifier.key_string()
    return json.dumps(out, indent=2, ensure_ascii=False)
