"""Chunked tree rebuilding agrees with the incremental RFC 6962 tree."""

from __future__ import annotations

import hashlib

import pytest

from privtrail.sinks.compact import CompactRange, _perfect_widths
from privtrail.tlog import EMPTY_ROOT, MerkleTree, leaf_hash, root_from_leaf_hashes

pytestmark = pytest.mark.unit


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 8, 64, 1000])
def test_any_chunking_gives_the_same_tree(chunk: int) -> None:
    leaves = _leaves(300)
    compact = CompactRange()
    reference = MerkleTree()
    for start in range(0, len(leaves), chunk):
        part = leaves[start : start + chunk]
        compact.extend(part)
        reference.extend(part)
        assert compact.size == reference.size
        assert compact.root() == reference.root()
    assert compact.to_tree().state() == reference.state()


def test_empty_and_probe() -> None:
    compact = CompactRange()
    assert compact.root() == EMPTY_ROOT
    leaves = _leaves(13)
    compact.extend(leaves[:5])
    assert compact.root_with(leaves[5:]) == root_from_leaf_hashes(leaves)
    assert compact.size == 5  # the probe did not append


def test_resumed_tree_keeps_appending() -> None:
    leaves = _leaves(77)
    compact = CompactRange()
    compact.extend(leaves[:50])
    tree = compact.to_tree()
    tree.extend(leaves[50:])
    assert tree.root() == root_from_leaf_hashes(leaves)


@pytest.mark.parametrize("start,count", [(0, 10), (8, 8), (6, 9), (5, 1), (12, 100)])
def test_widths_are_aligned_powers_of_two(start: int, count: int) -> None:
    widths = _perfect_widths(start, count)
    assert sum(widths) == count
    pos = start
    for w in widths:
        assert w & (w - 1) == 0 and pos % w == 0
        pos += w
