"""Proof bundles (the ``privtrail prove`` output) and consistency bundles, in the library."""

from __future__ import annotations

import base64
import json

import pytest

from privtrail.events import parse_event
from privtrail.tlog import (
    Checkpoint,
    ConsistencyBundle,
    MerkleTree,
    NoteSigner,
    ProofBundle,
    VerificationError,
    leaf_hash,
    root_from_leaf_hashes,
    sign_checkpoint,
)

pytestmark = pytest.mark.unit

ORIGIN = "privtrail.example/unit/privacy.events.valid/0"


def _event(i: int) -> bytes:
    # Pseudonymous ids and vocabulary terms only, as the contract requires.
    return parse_event(
        {
            "type": "used",
            "event_id": f"ev-{i}",
            "occurred_at": "2026-01-02T03:04:05Z",
            "source": {"service": "billing"},
            "actor": {"kind": "staff", "id": f"staff-{i % 3}"},
            "subject_id": f"subj-{i % 5}",
            "items": ["contact:email"],
            "purpose": "billing",
            "operation": "read",
            "reason": "caf\u00e9 r\u00e9sum\u00e9",  # non-ASCII stays raw UTF-8 in canonical form
        }
    ).canonical_bytes()


@pytest.fixture(scope="module")
def log() -> dict[str, object]:
    skey, vkey = NoteSigner.generate("privtrail.example/unit")
    signer = NoteSigner.from_key_string(skey)
    events = [_event(i) for i in range(11)]
    hashes = [leaf_hash(e) for e in events]
    tree = MerkleTree.from_leaf_hashes(hashes)
    note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), signer)
    return {
        "signer": signer,
        "verifier": signer.verifier(),
        "events": events,
        "hashes": hashes,
        "note": note,
        "vkey": vkey,
    }


def _bundle(log: dict[str, object], index: int = 4) -> ProofBundle:
    return ProofBundle.build(
        log["events"][index],
        index,
        log["hashes"],
        log["note"],
        log["verifier"],  # type: ignore[index, arg-type]
    )


def test_build_verify_and_json_round_trip(log: dict[str, object]) -> None:
    bundle = _bundle(log)
    assert bundle.tree_size == 11
    assert bundle.verifier_key == log["vkey"]
    again = ProofBundle.from_json(bundle.to_json())
    assert again == bundle
    cp = again.verify([log["verifier"]])  # type: ignore[list-item]
    assert (cp.origin, cp.size) == (ORIGIN, 11)
    assert again.verify().origin == ORIGIN


def test_json_layout_is_the_documented_one(log: dict[str, object]) -> None:
    data = json.loads(_bundle(log).to_json())
    assert list(data) == [
        "version",
        "event",
        "leaf_index",
        "tree_size",
        "inclusion_proof",
        "checkpoint",
        "verifier_key",
    ]
    assert data["version"] == 1
    assert data["event"].encode() == log["events"][4]  # type: ignore[index]
    assert "\u00e9" in data["event"]
    assert all(len(h) == 64 for h in data["inclusion_proof"])


def test_event_b64_form_is_accepted(log: dict[str, object]) -> None:
    data = json.loads(_bundle(log).to_json())
    data["event_b64"] = base64.b64encode(data.pop("event").encode()).decode()
    ProofBundle.from_json(json.dumps(data)).verify()


def test_build_refuses_hashes_that_disagree_with_the_checkpoint(log: dict[str, object]) -> None:
    hashes = list(log["hashes"])  # type: ignore[call-overload]
    hashes[2] = leaf_hash(b"edited behind the sink's back")
    with pytest.raises(VerificationError, match="leads to root"):
        ProofBundle.build(log["events"][4], 4, hashes, log["note"], log["verifier"])  # type: ignore[index, arg-type]


def _tamper(log: dict[str, object], **changes: object) -> ProofBundle:
    data = json.loads(_bundle(log).to_json())
    data.update(changes)
    return ProofBundle.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"leaf_index": 5}, "inclusion proof for leaf 5 leads to root"),
        ({"leaf_index": 11}, "leaf index 11 is not less than tree size 11"),
        ({"tree_size": 10}, "checkpoint is for tree size 11, but the proof is for tree size 10"),
        ({"inclusion_proof": []}, "inclusion proof has 0 hashes, expected 4"),
        ({"verifier_key": "x+y+z"}, "proof bundle: verifier key: key id must be 8 hex digits"),
    ],
)
def test_verify_failures(log: dict[str, object], change: dict[str, object], message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        _tamper(log, **change).verify()


def test_edited_event_fails(log: dict[str, object]) -> None:
    event = json.loads(log["events"][4])  # type: ignore[index]
    event["purpose"] = "marketing"
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(VerificationError, match="inclusion proof for leaf 4 leads to root"):
        _tamper(log, event=canonical).verify()


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ('{"b": 1, "a": 2}', "event is not in canonical form"),
        ('{"b":1,"a":2}', "event is not in canonical form"),
        ('{"a":"\\u00e9"}', "event is not in canonical form"),
        ("[1,2]", "event must be a JSON object"),
        ("{nope", "event is not valid JSON"),
    ],
)
def test_non_canonical_event_fails(log: dict[str, object], event: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        _tamper(log, event=event).verify()


def test_checkpoint_from_another_key_fails(log: dict[str, object]) -> None:
    other = NoteSigner.from_key_string(NoteSigner.generate("privtrail.example/unit")[0])
    tree = MerkleTree.from_leaf_hashes(log["hashes"])  # type: ignore[arg-type]
    forged = sign_checkpoint(Checkpoint(ORIGIN, 11, tree.root()), other).decode()
    with pytest.raises(VerificationError, match="no signature from a trusted key"):
        _tamper(log, checkpoint=forged).verify([log["verifier"]])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "proof bundle: not valid JSON"),
        ("[]", "proof bundle: must be a JSON object"),
        ('{"version": 2}', "proof bundle: unsupported version 2"),
        ('{"version": 1}', "needs exactly one of 'event' or 'event_b64'"),
        ('{"version": 1, "event": "{}", "event_b64": ""}', "needs exactly one of"),
        ('{"version": 1, "event_b64": "***"}', "'event_b64' is not base64"),
        ('{"version": 1, "event": "{}"}', "missing field 'leaf_index'"),
        ('{"version": 1, "event": 5}', "field 'event' has the wrong type"),
        ('{"version": 1, "event": "{}", "leaf_index": true}', "field 'leaf_index' has the wrong"),
        (
            '{"version": 1, "event": "{}", "leaf_index": 0, "tree_size": 1,'
            ' "inclusion_proof": ["zz"]}',
            r"inclusion_proof\[0\] is not a 32-byte hex hash",
        ),
        (
            '{"version": 1, "event": "{}", "leaf_index": 0, "tree_size": 1,'
            ' "inclusion_proof": [7]}',
            r"inclusion_proof\[0\] is not a 32-byte hex hash",
        ),
    ],
)
def test_from_json_errors(text: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        ProofBundle.from_json(text)


# --- consistency ----------------------------------------------------------------------------


def _note(log: dict[str, object], size: int, hashes: list[bytes] | None = None) -> bytes:
    hs = hashes if hashes is not None else log["hashes"]
    root = root_from_leaf_hashes(hs[:size])  # type: ignore[index]
    return sign_checkpoint(Checkpoint(ORIGIN, size, root), log["signer"])  # type: ignore[arg-type]


def test_consistency_bundle_round_trip_and_verify(log: dict[str, object]) -> None:
    proof = ConsistencyBundle.build(log["hashes"], 6, 11)  # type: ignore[arg-type]
    again = ConsistencyBundle.from_json(proof.to_json())
    assert again == proof
    old, new = again.verify(_note(log, 6), log["note"], [log["verifier"]])  # type: ignore[arg-type, list-item]
    assert (old.size, new.size) == (6, 11)


def test_consistency_detects_rewritten_history(log: dict[str, object]) -> None:
    # The log signed size 6, then an admin rewrote leaf 2 and the log signed size 11 over it.
    rewritten = list(log["hashes"])  # type: ignore[call-overload]
    rewritten[2] = leaf_hash(b"rewritten")
    proof = ConsistencyBundle.build(rewritten, 6, 11)
    with pytest.raises(VerificationError, match="consistency proof leads to old root"):
        proof.verify(_note(log, 6), _note(log, 11, rewritten), [log["verifier"]])  # type: ignore[list-item]


def test_consistency_size_mismatch(log: dict[str, object]) -> None:
    proof = ConsistencyBundle.build(log["hashes"], 5, 11)  # type: ignore[arg-type]
    with pytest.raises(
        VerificationError,
        match="old checkpoint is for tree size 6, but the proof is for tree size 5",
    ):
        proof.verify(_note(log, 6), log["note"], [log["verifier"]])  # type: ignore[arg-type, list-item]


def test_consistency_origin_mismatch(log: dict[str, object]) -> None:
    other = sign_checkpoint(
        Checkpoint(ORIGIN + "x", 11, root_from_leaf_hashes(log["hashes"])),  # type: ignore[arg-type]
        log["signer"],  # type: ignore[arg-type]
    )
    proof = ConsistencyBundle.build(log["hashes"], 6, 11)  # type: ignore[arg-type]
    with pytest.raises(VerificationError, match="checkpoint is for log .*x', not the expected"):
        proof.verify(_note(log, 6), other, [log["verifier"]])  # type: ignore[list-item]


def test_consistency_from_json_errors() -> None:
    with pytest.raises(VerificationError, match="consistency proof: missing field 'new_size'"):
        ConsistencyBundle.from_json('{"version": 1, "old_size": 1}')


def test_non_utf8_event_round_trips_as_base64(log: dict[str, object]) -> None:
    bundle = _bundle(log)
    odd = ProofBundle(b"\xff", 0, 1, (), bundle.checkpoint, bundle.verifier_key)
    data = json.loads(odd.to_json())
    assert "event" not in data and data["event_b64"] == "/w=="
    with pytest.raises(VerificationError, match="event is not valid JSON"):
        ProofBundle.from_json(odd.to_json()).verify()
