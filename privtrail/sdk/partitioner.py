"""kafka-python's default partitioning, with the key hashes remembered.

kafka-python hashes every record key with a pure-Python murmur2, about a quarter of what
``producer.send()`` costs. The SDK's keys are subject pseudonyms, and a service sees the
same subjects again and again, so :class:`CachedKeyPartitioner` keeps the hashes of recent
keys. The partition chosen is exactly :class:`~kafka.partitioner.DefaultPartitioner`'s (the
Java client's too): a subject's events land in the same partition whatever produced them
(this SDK, ``privtrail emit``, an older release), which is what keeps them in order.

Keys are pseudonyms (never raw identifiers), so remembering them holds nothing secret.
"""

from __future__ import annotations

from typing import Any

from kafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2

MAX_KEYS = 16_384
"""Hashes kept; past this the memory starts again empty (about 3 MB at most)."""


class KeyHashes:
    """``murmur2(key) & 0x7fffffff``, the hash Kafka's default partitioners take modulo the
    partition count, with a bounded memory of recent keys."""

    __slots__ = ("_max_keys", "_hashes")

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes) -> int:
        hashes = self._hashes
        digest = hashes.get(key)
        if digest is None:
            digest = murmur2(key) & 0x7FFFFFFF
            if len(hashes) >= self._max_keys:
                hashes.clear()  # a plain bound: refilled from the keys in use
            hashes[key] = digest
        return digest


class CachedKeyPartitioner(DefaultPartitioner):  # type: ignore[misc]  # untyped kafka-python
    """:class:`DefaultPartitioner` with a bounded memory of ``murmur2(key) & 0x7fffffff``."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._hash = KeyHashes(max_keys)

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: Any,
        value: Any,
        serialized_value: Any,
        cluster: Any,
    ) -> int:
        if type(serialized_key) is not bytes:  # None (random), bytearray, memoryview
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        digest = self._hash(serialized_key)
        # the same steps as DefaultPartitioner.partition (topic checked by the producer too)
        partitions = cluster.partitions_for_topic(topic)
        if partitions is None:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        ordered = sorted(partitions)
        return int(ordered[digest % len(ordered)])
