"""Rebuilding Merkle trees from millions of stored leaf hashes, chunk by chunk.

``MerkleTree.append`` costs a Python call per leaf; the sink (restoring a partition's tree on
assignment) and ``privtrail verify`` (recomputing every tree) read leaf hashes in large chunks
instead. Each chunk is split into perfect, aligned subtrees whose roots are hashed level by
level in one comprehension (:func:`root_from_leaf_hashes`), then carried into the compact
range like binary addition. The result is the same RFC 6962 tree, in O(log n) memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from privtrail.tlog import MerkleTree, node_hash, root_from_leaf_hashes


def _perfect_widths(start: int, count: int) -> list[int]:
    """Widths of the aligned perfect subtrees covering leaves ``[start, start + count)``."""
    widths = []
    while count:
        width = 1 << (count.bit_length() - 1)
        if start:
            width = min(width, start & -start)  # the subtree must start on a multiple of it
        widths.append(width)
        start += width
        count -= width
    return widths


class CompactRange:
    """The roots of the perfect subtrees of a growing tree (one per set bit of its size)."""

    __slots__ = ("size", "subtrees")

    def __init__(self, size: int = 0, subtrees: Sequence[bytes] = ()) -> None:
        self.size = size
        self.subtrees = list(subtrees)

    def _push(self, subtree_root: bytes, width: int) -> None:
        h, bit = subtree_root, width
        while self.size & bit:
            h = node_hash(self.subtrees.pop(), h)
            bit <<= 1
        self.subtrees.append(h)
        self.size += width

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append these leaf hashes, in order."""
        pos = 0
        for width in _perfect_widths(self.size, len(leaf_hashes)):
            self._push(root_from_leaf_hashes(leaf_hashes[pos : pos + width]), width)
            pos += width

    def root_with(self, leaf_hashes: Sequence[bytes]) -> bytes:
        """The root of this tree with ``leaf_hashes`` appended, without appending them."""
        probe = CompactRange(self.size, self.subtrees)
        probe.extend(leaf_hashes)
        return probe.root()

    def root(self) -> bytes:
        return self.to_tree().root()

    def to_tree(self) -> MerkleTree:
        """A :class:`MerkleTree` in the same state, ready for ``append``."""
        return MerkleTree.from_state(self.size, self.subtrees)
