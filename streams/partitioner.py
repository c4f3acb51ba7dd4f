"""aiokafka's default partitioning, with the key hashes remembered.

Every keyed send of the worker (the valid topic, alerts, the repartition topics) runs
aiokafka's pure-Python murmur2 over the key; the keys are subject pseudonyms and staff
ids the worker sees again and again. :class:`CachedPartitioner` gives exactly
``aiokafka.partitioner.DefaultPartitioner``'s answer (the Java client's too), from a
bounded memory of recent keys' hashes (:class:`~privtrail.sdk.partitioner.KeyHashes`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from privtrail.sdk.partitioner import KeyHashes


class CachedPartitioner:
    """``(key, all_partitions, available) -> partition``, as Faust's producer calls it."""

    __slots__ = ("_hash",)

    def __init__(self, hashes: KeyHashes | None = None) -> None:
        self._hash = hashes or KeyHashes()

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:  # as aiokafka: a random available partition
            return random.choice(available or all_partitions)  # noqa: S311  # spreading, not secrecy
        return all_partitions[self._hash(key) % len(all_partitions)]
