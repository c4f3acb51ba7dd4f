"""Signed checkpoints of each partition's tree, at least once a minute and at shutdown.

A checkpoint is the C2SP ``tlog-checkpoint`` body (origin, size, base64 root) in an Ed25519
``signed-note``; the row in ``privtrail.checkpoints`` keeps the note verbatim so any
transparency-log verifier or witness can check it. The sink calls :meth:`Checkpointer.write`
only right after a full flush, so a checkpoint never covers a leaf ClickHouse has not
acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from privtrail.sinks.store import HistoryStore
from privtrail.tlog import Checkpoint, MerkleTree, NoteSigner, sign_checkpoint

TreeKey = tuple[str, int]


class Checkpointer:
    def __init__(
        self,
        store: HistoryStore,
        signer: NoteSigner,
        origin: Callable[[str, int], str],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.signer = signer
        self.origin = origin
        self.interval = interval
        self._clock = clock
        self._last_run = clock()
        self._written: dict[TreeKey, int] = {}

    def due(self) -> bool:
        return self._clock() - self._last_run >= self.interval

    def known(self, key: TreeKey, size: int | None) -> None:
        """Record the size of the newest checkpoint already stored for ``key`` (on assignment)."""
        if size is None:
            self._written.pop(key, None)
        else:
            self._written[key] = size

    def forget(self, key: TreeKey) -> None:
        self._written.pop(key, None)

    def write(self, trees: Mapping[TreeKey, MerkleTree]) -> list[Checkpoint]:
        """Sign and store a checkpoint for every tree that grew since its last checkpoint.

        An unchanged tree needs no new checkpoint: its latest one still states its root.
        """
        self._last_run = self._clock()
        written = []
        for (topic, partition), tree in sorted(trees.items()):
            size = tree.size
            if size == 0 or self._written.get((topic, partition)) == size:
                continue
            checkpoint = Checkpoint(self.origin(topic, partition), size, tree.root())
            note = sign_checkpoint(checkpoint, self.signer).decode()
            self.store.insert_checkpoint(
                [
                    checkpoint.origin,
                    topic,
                    partition,
                    size,
                    checkpoint.root_hash,
                    note,
                    datetime.now(UTC),
                ]
            )
            self._written[(topic, partition)] = size
            written.append(checkpoint)
        return written
