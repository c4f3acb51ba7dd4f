"""RFC 6962 tree hashing and the incremental tree, against the published reference tree."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtrail.tlog import (
    EMPTY_ROOT,
    MerkleTree,
    VerificationError,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
)

pytestmark = pytest.mark.unit

# Published facts; the file names its sources.
MERKLE = json.loads((Path(__file__).parent / "vectors" / "rfc6962_merkle.json").read_text())
LEAF_INPUTS = [bytes.fromhex(x) for x in MERKLE["leaf_inputs"]]
ROOTS = [bytes.fromhex(x) for x in MERKLE["roots_by_size"]]


def _recursive_mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 2.1's definition, written literally, as an oracle for the fast paths."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(_recursive_mth(hashes[:k]), _recursive_mth(hashes[k:]))


def test_hasher_published_vectors() -> None:
    h = MERKLE["hasher"]
    assert EMPTY_ROOT.hex() == h["empty_root"]
    assert leaf_hash(b"").hex() == h["empty_leaf_hash"]
    assert leaf_hash(h["leaf"]["data_ascii"].encode()).hex() == h["leaf"]["hash"]
    node = h["node"]
    assert (
        node_hash(node["left_ascii"].encode(), node["right_ascii"].encode()).hex() == node["hash"]
    )


def test_leaf_and_node_prefixes_differ() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) != node_hash(b, a)


@pytest.mark.parametrize("size", range(9))
def test_roots_of_reference_tree(size: int) -> None:
    hashes = [leaf_hash(x) for x in LEAF_INPUTS[:size]]
    assert root_from_leaf_hashes(hashes) == ROOTS[size]
    assert MerkleTree.from_leaf_hashes(hashes).root() == ROOTS[size]
    tree = MerkleTree()
    tree.extend(hashes)
    assert (tree.size, tree.root()) == (size, ROOTS[size])


def test_node_hashes_of_reference_tree() -> None:
    # Every complete subtree of the 8-leaf tree: level L, index i covers 2**L leaves.
    hashes = [leaf_hash(x) for x in LEAF_INPUTS]
    for level, row in enumerate(MERKLE["node_hashes_by_level"]):
        width = 1 << level
        for i, want in enumerate(row):
            assert root_from_leaf_hashes(hashes[i * width : (i + 1) * width]).hex() == want


def test_compact_state_is_the_perfect_subtree_roots() -> None:
    levels = [[bytes.fromhex(h) for h in row] for row in MERKLE["node_hashes_by_level"]]
    hashes = [leaf_hash(x) for x in LEAF_INPUTS]
    tree = MerkleTree()
    tree.extend(hashes[:7])
    # 7 = 4 + 2 + 1: leaves 0-3, 4-5 and 6.
    assert tree.state() == (7, [levels[2][0], levels[1][2], levels[0][6]])


def test_append_returns_index_and_state_round_trips() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(21)]
    tree = MerkleTree()
    assert [tree.append(h) for h in hashes[:10]] == list(range(10))
    resumed = MerkleTree.from_state(*tree.state())
    resumed.extend(hashes[10:])
    assert resumed.root() == root_from_leaf_hashes(hashes)
    assert repr(resumed).startswith("MerkleTree(size=21, root=")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=70), st.data())
def test_fast_paths_match_the_rfc_definition(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    want = _recursive_mth(hashes)
    assert root_from_leaf_hashes(hashes) == want
    assert MerkleTree.from_leaf_hashes(hashes).root() == want
    cut = data.draw(st.integers(0, len(hashes)))
    tree = MerkleTree.from_leaf_hashes(hashes[:cut])
    tree.extend(hashes[cut:])
    assert tree.root() == want


def test_from_state_rejects_wrong_subtree_count() -> None:
    with pytest.raises(VerificationError, match="a tree of size 5 has 2 subtree roots, got 1"):
        MerkleTree.from_state(5, [EMPTY_ROOT])


def test_from_state_rejects_negative_size() -> None:
    with pytest.raises(VerificationError, match="tree size must be non-negative, got -1"):
        MerkleTree.from_state(-1, [])


def test_from_state_rejects_short_hash() -> None:
    with pytest.raises(VerificationError, match=r"subtree root \[0\] must be 32 bytes, got 3"):
        MerkleTree.from_state(1, [b"abc"])


def test_append_rejects_raw_data() -> None:
    tree = MerkleTree()
    with pytest.raises(VerificationError, match="leaf hash must be 32 bytes, got 5"):
        tree.append(b"event")
    with pytest.raises(VerificationError, match="leaf hash must be 32 bytes, got str"):
        tree.append("x" * 32)  # type: ignore[arg-type]
    assert tree.size == 0
