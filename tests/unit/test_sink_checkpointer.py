"""Checkpoints: C2SP bodies in signed notes, written only for trees that grew."""

from __future__ import annotations

from typing import Any

import pytest

from privtrail.sinks.checkpointer import Checkpointer
from privtrail.tlog import MerkleTree, NoteSigner, leaf_hash, open_checkpoint

pytestmark = pytest.mark.unit


class Store:
    def __init__(self) -> None:
        self.rows: list[list[Any]] = []

    def insert_checkpoint(self, row: list[Any]) -> None:
        self.rows.append(row)


def _tree(n: int) -> MerkleTree:
    tree = MerkleTree()
    tree.extend(leaf_hash(str(i).encode()) for i in range(n))
    return tree


def _checkpointer(store: Store, clock: list[float]) -> tuple[Checkpointer, NoteSigner]:
    signer = NoteSigner.from_key_string(NoteSigner.generate("audit.test")[0])
    cp = Checkpointer(
        store,
        signer,
        lambda t, p: f"audit.test/{t}/{p}",
        60.0,
        clock=lambda: clock[0],  # type: ignore[arg-type]
    )
    return cp, signer


def test_signed_checkpoint_per_grown_tree() -> None:
    store, clock = Store(), [0.0]
    cp, signer = _checkpointer(store, clock)
    trees = {("v", 0): _tree(5), ("v", 1): _tree(0)}
    written = cp.write(trees)
    assert [c.size for c in written] == [5]  # an empty tree needs no checkpoint
    origin, topic, partition, size, root, note, _ = store.rows[0]
    opened = open_checkpoint(note.encode(), [signer.verifier()], origin="audit.test/v/0")
    assert (topic, partition, size, opened.size) == ("v", 0, 5, 5)
    assert opened.root_hash == root == trees[("v", 0)].root()
    assert cp.write(trees) == []  # unchanged: the last checkpoint still holds
    trees[("v", 0)].append(leaf_hash(b"x"))
    assert [c.size for c in cp.write(trees)] == [6]


def test_due_once_a_minute() -> None:
    store, clock = Store(), [0.0]
    cp, _ = _checkpointer(store, clock)
    assert not cp.due()
    clock[0] = 59.9
    assert not cp.due()
    clock[0] = 60.0
    assert cp.due()
    cp.write({})
    assert not cp.due()


def test_known_size_from_the_table_prevents_a_repeat() -> None:
    store, clock = Store(), [0.0]
    cp, _ = _checkpointer(store, clock)
    cp.known(("v", 0), 5)
    assert cp.write({("v", 0): _tree(5)}) == []
    cp.forget(("v", 0))
    assert len(cp.write({("v", 0): _tree(5)})) == 1
