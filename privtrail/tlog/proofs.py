"""Inclusion and consistency proofs: generation (RFC 6962 2.1.1-2.1.2) and verification
(RFC 9162 2.1.3.2 and 2.1.4.2).

Generation works from the full list of leaf hashes, which the sink stores in ClickHouse.
Verification checks the proof length against the length the sizes imply *before* hashing, so a
padded, truncated or re-targeted proof is reported as such rather than as a root mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence

from privtrail.tlog.errors import VerificationError
from privtrail.tlog.merkle import (
    HASH_SIZE,
    check_hash,
    node_hash,
    root_from_leaf_hashes,
    split_point,
)


def _check_sizes(leaf_hashes: Sequence[bytes], size: int, what: str) -> None:
    if size < 0:
        raise VerificationError(f"{what} must be non-negative, got {size}")
    if size > len(leaf_hashes):
        raise VerificationError(f"{what} {size} exceeds the {len(leaf_hashes)} leaf hashes given")


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path of leaf ``index`` in the tree of ``size`` leaves.

    Costs O(size) hashing (every sibling subtree is recomputed); callers proving many leaves of
    one tree should cache subtree roots.
    """
    _check_sizes(leaf_hashes, size, "tree size")
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is out of range for tree size {size}")
    siblings: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root; siblings are found top-down, the proof lists them bottom-up.
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            siblings.append(root_from_leaf_hashes(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            siblings.append(root_from_leaf_hashes(leaf_hashes[lo : lo + k]))
            lo += k
    siblings.reverse()
    return siblings


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]): shows the old tree is a prefix of the new one.

    Empty when the sizes are equal or the old tree is empty (both trivially consistent).
    """
    _check_sizes(leaf_hashes, new_size, "new tree size")
    if old_size < 0:
        raise VerificationError(f"old tree size must be non-negative, got {old_size}")
    if old_size > new_size:
        raise VerificationError(
            f"old tree size {old_size} is greater than new tree size {new_size}"
        )
    if old_size in (0, new_size):
        return []
    siblings: list[bytes] = []
    lo, hi, m = 0, new_size, old_size
    complete = True  # RFC 6962's flag b: is D[lo:lo+m] the whole old tree?
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            siblings.append(root_from_leaf_hashes(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            siblings.append(root_from_leaf_hashes(leaf_hashes[lo : lo + k]))
            lo += k
            m -= k
            complete = False
    # SUBPROOF(m, D[m], true) is empty (the verifier knows the old root); with b false it is
    # MTH(D[m]), the old tree's right-most subtree.
    head = [] if complete else [root_from_leaf_hashes(leaf_hashes[lo:hi])]
    siblings.reverse()
    return head + siblings


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            size = len(h) if isinstance(h, bytes | bytearray) else type(h).__name__
            raise VerificationError(f"proof[{i}] must be {HASH_SIZE} bytes, got {size}")


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes the inclusion proof of leaf ``index`` in a tree of ``size`` has."""
    # ``inner`` levels where the path to the last leaf and to ``index`` diverge, plus one
    # ``border`` hash per left sibling on the right edge above that.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` (RFC 9162 2.1.3.2)."""
    if index < 0 or size < 0:
        raise VerificationError(
            f"leaf index and tree size must be non-negative, got {index} and {size}"
        )
    if index >= size:
        raise VerificationError(f"leaf index {index} is not less than tree size {size}")
    check_hash(leaf, "leaf hash")
    _check_proof_hashes(proof)
    want = inclusion_proof_length(index, size)
    if len(proof) != want:
        raise VerificationError(
            f"inclusion proof has {len(proof)} hashes, expected {want} "
            f"for leaf {index} in a tree of size {size}"
        )
    # RFC 9162's loop; its "sn == 0 before the end" and "sn != 0 after" failures cannot
    # happen once the length is right, so they are not repeated here.
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is at ``index`` in the tree of ``size`` with ``root``, or raise."""
    check_hash(root, "root hash")
    got = root_from_inclusion_proof(leaf, index, size, proof)
    if got != root:
        raise VerificationError(
            f"inclusion proof for leaf {index} leads to root {got.hex()}, "
            f"not the expected {bytes(root).hex()}"
        )


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """How many hashes the consistency proof between two sizes (0 < old < new) has."""
    level = (old_size & -old_size).bit_length() - 1  # trailing zeros of old_size
    index = (old_size - 1) >> level
    inner = (index ^ ((new_size - 1) >> level)).bit_length()
    border = (index >> inner).bit_count()
    # A power-of-two old tree is itself a node of the new tree, so the proof omits it.
    seed = 0 if index == 0 else 1
    return seed + inner + border


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (old_size, old_root) is a prefix of (new_size, new_root), or raise."""
    if old_size < 0 or new_size < 0:
        raise VerificationError(f"tree sizes must be non-negative, got {old_size} and {new_size}")
    if old_size > new_size:
        raise VerificationError(
            f"old tree size {old_size} is greater than new tree size {new_size}"
        )
    check_hash(old_root, "old root hash")
    check_hash(new_root, "new root hash")
    _check_proof_hashes(proof)
    if old_size == new_size:
        if proof:
            raise VerificationError(
                f"consistency proof between equal sizes must be empty, got {len(proof)} hashes"
            )
        if old_root != new_root:
            raise VerificationError(
                f"both trees have size {old_size} but their roots differ: "
                f"{bytes(old_root).hex()} != {bytes(new_root).hex()}"
            )
        return
    if old_size == 0:
        if proof:
            raise VerificationError(
                f"consistency proof from an empty tree must be empty, got {len(proof)} hashes"
            )
        return
    want = consistency_proof_length(old_size, new_size)
    if len(proof) != want:
        raise VerificationError(
            f"consistency proof has {len(proof)} hashes, expected {want} "
            f"between sizes {old_size} and {new_size}"
        )
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != old_root:
        raise VerificationError(
            f"consistency proof leads to old root {fr.hex()}, "
            f"not the expected {bytes(old_root).hex()} (size {old_size})"
        )
    if sr != new_root:
        raise VerificationError(
            f"consistency proof leads to new root {sr.hex()}, "
            f"not the expected {bytes(new_root).hex()} (size {new_size})"
        )
