"""Inclusion and consistency proofs: published vectors, every failure branch, random trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtrail.tlog import (
    EMPTY_ROOT,
    VerificationError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.unit

MERKLE = json.loads((Path(__file__).parent / "vectors" / "rfc6962_merkle.json").read_text())
HASHES = [leaf_hash(bytes.fromhex(x)) for x in MERKLE["leaf_inputs"]]
ROOTS = [bytes.fromhex(x) for x in MERKLE["roots_by_size"]]
INCLUSION = [
    (v["leaf_index"], v["tree_size"], [bytes.fromhex(h) for h in v["proof"]])
    for v in MERKLE["inclusion_proofs"]
]
CONSISTENCY = [
    (v["old_size"], v["new_size"], [bytes.fromhex(h) for h in v["proof"]])
    for v in MERKLE["consistency_proofs"]
]
OTHER = bytes(range(32))


def _flip(proof: list[bytes], i: int, mask: int = 8) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ mask]) + out[i][1:]
    return out


# --- published vectors ----------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors_generate_and_verify(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(HASHES, index, size) == proof
    verify_inclusion(HASHES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_vectors_generate_and_verify(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(HASHES, old, new) == proof
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("index", "size", "proof"), [v for v in INCLUSION if v[2]])
def test_inclusion_vectors_reject_corruptions(index: int, size: int, proof: list[bytes]) -> None:
    # The probe kinds transparency-dev/merkle's verify_test.go runs against each vector.
    leaf, root = HASHES[index], ROOTS[size]
    probes = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (leaf_hash(b"WrongLeaf"), index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, OTHER),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [root, *proof], root),
        (leaf, index, size, proof[:-1], root),
        (leaf, index, size, [proof[0], OTHER, *proof[1:]], root),
    ] + [(leaf, index, size, _flip(proof, i), root) for i in range(len(proof))]
    for probe in probes:
        with pytest.raises(VerificationError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY if v[2]])
def test_consistency_vectors_reject_corruptions(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old], ROOTS[new]
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, OTHER, r2, proof),
        (old, new, r1, OTHER, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ] + [(old, new, r1, r2, _flip(proof, i, 16)) for i in range(len(proof))]
    for probe in probes:
        with pytest.raises(VerificationError):
            verify_consistency(*probe)


def test_trivial_consistency_cases() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert consistency_proof(HASHES, 0, 8) == []
    assert consistency_proof(HASHES, 4, 4) == []


# --- every failure branch, by message -------------------------------------------------------

LEAF, ROOT8 = HASHES[0], ROOTS[8]
PROOF_0_8 = INCLUSION[1][2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((LEAF, -1, 8, PROOF_0_8, ROOT8), "leaf index and tree size must be non-negative"),
        ((LEAF, 0, -8, PROOF_0_8, ROOT8), "leaf index and tree size must be non-negative"),
        ((LEAF, 8, 8, PROOF_0_8, ROOT8), "leaf index 8 is not less than tree size 8"),
        ((LEAF, 0, 0, [], EMPTY_ROOT), "leaf index 0 is not less than tree size 0"),
        ((b"short", 0, 8, PROOF_0_8, ROOT8), "leaf hash must be 32 bytes, got 5"),
        ((LEAF, 0, 8, PROOF_0_8, b"x"), "root hash must be 32 bytes, got 1"),
        ((LEAF, 0, 8, [PROOF_0_8[0], b"yy"], ROOT8), r"proof\[1\] must be 32 bytes, got 2"),
        (
            (LEAF, 0, 8, PROOF_0_8[:2], ROOT8),
            "inclusion proof has 2 hashes, expected 3 for leaf 0 in a tree of size 8",
        ),
        (
            (LEAF, 0, 8, [*PROOF_0_8, OTHER], ROOT8),
            "inclusion proof has 4 hashes, expected 3 for leaf 0 in a tree of size 8",
        ),
        (
            (HASHES[1], 0, 8, PROOF_0_8, ROOT8),
            "inclusion proof for leaf 0 leads to root [0-9a-f]{64}, "
            f"not the expected {ROOT8.hex()}",
        ),
    ],
)
def test_verify_inclusion_failure_messages(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(VerificationError, match=message):
        verify_inclusion(*args)


def test_root_from_inclusion_proof_matches_published_root() -> None:
    assert root_from_inclusion_proof(LEAF, 0, 8, PROOF_0_8) == ROOT8


P6_8 = CONSISTENCY[2][2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 8, ROOTS[6], ROOT8, P6_8), "tree sizes must be non-negative, got -1 and 8"),
        ((9, 8, ROOTS[6], ROOT8, P6_8), "old tree size 9 is greater than new tree size 8"),
        ((6, 8, b"r", ROOT8, P6_8), "old root hash must be 32 bytes, got 1"),
        ((6, 8, ROOTS[6], b"", P6_8), "new root hash must be 32 bytes, got 0"),
        ((6, 8, ROOTS[6], ROOT8, [b"p"]), r"proof\[0\] must be 32 bytes, got 1"),
        (
            (8, 8, ROOT8, ROOT8, [OTHER]),
            "consistency proof between equal sizes must be empty, got 1 hashes",
        ),
        ((8, 8, ROOTS[7], ROOT8, []), "both trees have size 8 but their roots differ"),
        (
            (0, 8, EMPTY_ROOT, ROOT8, [OTHER]),
            "consistency proof from an empty tree must be empty, got 1 hashes",
        ),
        (
            (6, 8, ROOTS[6], ROOT8, P6_8[:2]),
            "consistency proof has 2 hashes, expected 3 between sizes 6 and 8",
        ),
        (
            (6, 8, ROOTS[5], ROOT8, P6_8),
            f"consistency proof leads to old root {ROOTS[6].hex()}, not the expected "
            f"{ROOTS[5].hex()} \\(size 6\\)",
        ),
        (
            (6, 8, ROOTS[6], ROOTS[7], P6_8),
            f"consistency proof leads to new root {ROOT8.hex()}, not the expected "
            f"{ROOTS[7].hex()} \\(size 8\\)",
        ),
    ],
)
def test_verify_consistency_failure_messages(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(VerificationError, match=message):
        verify_consistency(*args)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inclusion_proof(HASHES, 0, 9), "tree size 9 exceeds the 8 leaf hashes given"),
        (lambda: inclusion_proof(HASHES, 0, -1), "tree size must be non-negative, got -1"),
        (lambda: inclusion_proof(HASHES, 5, 5), "leaf index 5 is out of range for tree size 5"),
        (lambda: inclusion_proof(HASHES, -1, 5), "leaf index -1 is out of range"),
        (
            lambda: consistency_proof(HASHES, 2, 9),
            "new tree size 9 exceeds the 8 leaf hashes given",
        ),
        (lambda: consistency_proof(HASHES, -2, 5), "old tree size must be non-negative, got -2"),
        (
            lambda: consistency_proof(HASHES, 6, 5),
            "old tree size 6 is greater than new tree size 5",
        ),
    ],
)
def test_proof_generation_failure_messages(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VerificationError, match=message):
        call()


# --- random trees -----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 130))
def test_random_tree_every_inclusion_proof_verifies_and_a_flipped_bit_fails(size: int) -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    root = root_from_leaf_hashes(hashes)
    for index in range(size):
        proof = inclusion_proof(hashes, index, size)
        verify_inclusion(hashes[index], index, size, proof, root)
        if proof:
            which = index % len(proof)
            with pytest.raises(VerificationError, match="leads to root"):
                verify_inclusion(hashes[index], index, size, _flip(proof, which, 1), root)
        with pytest.raises(VerificationError, match="leads to root"):
            verify_inclusion(hashes[index], index, size, proof, _flip([root], 0, 0x80)[0])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_consistency_proofs_verify_and_a_flipped_bit_fails(data: st.DataObject) -> None:
    new = data.draw(st.integers(1, 300), label="new_size")
    old = data.draw(st.integers(0, new), label="old_size")
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(new)]
    old_root, new_root = root_from_leaf_hashes(hashes[:old]), root_from_leaf_hashes(hashes)
    proof = consistency_proof(hashes, old, new)
    verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="flipped hash")
        bit = data.draw(st.integers(0, 255), label="flipped bit")
        bad = list(proof)
        bad[i] = (
            bad[i][: bit // 8] + bytes([bad[i][bit // 8] ^ (1 << bit % 8)]) + bad[i][bit // 8 + 1 :]
        )
        with pytest.raises(VerificationError, match="consistency proof leads to"):
            verify_consistency(old, new, old_root, new_root, bad)
    if 0 < old < new:
        with pytest.raises(VerificationError):
            verify_consistency(old, new, old_root, root_from_leaf_hashes(hashes[:-1]), proof)
