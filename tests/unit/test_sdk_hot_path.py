"""The SDK's hot-path shortcuts give exactly what the plain code gave.

* :class:`CachedKeyPartitioner` picks kafka-python's ``DefaultPartitioner``'s partition;
* the contract's memory of checked terms never lets a bad term through and stays bounded;
* pseudonyms are still HMAC-SHA-256 as documented; the default actor is the service.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import pytest
from kafka.partitioner import DefaultPartitioner
from prometheus_client import CollectorRegistry

from privtrail import events
from privtrail.errors import ContractError
from privtrail.events import Actor, Source, parse_event
from privtrail.policy import default_policy
from privtrail.sdk.builder import EventBuilder
from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.partitioner import CachedKeyPartitioner
from privtrail.sdk.producer import build_producer
from privtrail.sdk.pseudonym import PREFIX, Pseudonym, Pseudonymiser, letters
from privtrail.wire import encode_event

pytestmark = pytest.mark.unit


class Cluster:
    """The two ClusterMetadata calls a partitioner makes."""

    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self._partitions = partitions

    def topics(self) -> set[str]:
        return set(self._partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)


@pytest.mark.parametrize("count", [1, 3, 4, 7, 12])
def test_cached_partitioner_agrees_with_kafka_pythons(count: int) -> None:
    cluster = Cluster({"t": set(range(count)), "gappy": {2, 5, 9, 11}})
    plain, cached = DefaultPartitioner(), CachedKeyPartitioner(max_keys=50)
    keys = [os.urandom(n % 60 + 1) for n in range(300)] + [b"ps_" + b"a" * 40, b""]
    for _ in range(2):  # the second round is answered from the cache (and past its bound)
        for key in keys:
            for topic in ("t", "gappy"):
                want = plain.partition(topic, key, key, b"v", b"v", cluster)
                assert cached.partition(topic, key, key, b"v", b"v", cluster) == want
    assert len(cached._hash._hashes) <= 50


def test_cached_partitioner_without_a_key_or_with_unhashable_bytes() -> None:
    cluster = Cluster({"t": {0, 1, 2, 3}})
    cached = CachedKeyPartitioner()
    assert cached.partition("t", None, None, b"v", b"v", cluster) in {0, 1, 2, 3}
    key = bytearray(b"ps_abc")
    want = DefaultPartitioner().partition("t", key, key, b"v", b"v", cluster)
    assert cached.partition("t", key, key, b"v", b"v", cluster) == want
    with pytest.raises(ValueError, match="not found"):
        cached.partition("nope", b"k", b"k", b"v", b"v", cluster)


def test_build_producer_uses_a_fresh_cached_partitioner_unless_overridden() -> None:
    from privtrail.sdk import producer as producer_module

    seen: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, **config: Any) -> None:
            seen.append(config)

    original = producer_module.KafkaProducer
    producer_module.KafkaProducer = Recorder  # type: ignore[misc,assignment]
    try:
        build_producer("localhost:1")
        build_producer("localhost:1")
        mine = DefaultPartitioner()
        build_producer("localhost:1", {"partitioner": mine, "acks": 0})
    finally:
        producer_module.KafkaProducer = original  # type: ignore[misc]
    assert isinstance(seen[0]["partitioner"], CachedKeyPartitioner)
    assert seen[0]["partitioner"] is not seen[1]["partitioner"]
    assert seen[2]["partitioner"] is mine
    assert seen[2]["acks"] == "all" and seen[2]["enable_idempotence"] is True


def _used(items: list[str]) -> dict[str, Any]:
    return {
        "event_id": "ev_x",
        "type": "used",
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": {"service": "svc"},
        "actor": {"kind": "service", "id": "svc"},
        "subject_id": "ps_abc",
        "items": items,
        "purpose": "support",
        "operation": "view",
    }


def test_remembered_terms_never_admit_a_bad_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_TERMS_SEEN", set())
    parse_event(_used(["email", "phone"]))
    assert {"email", "phone", "support", "view"} <= events._TERMS_SEEN
    for bad, reason in (
        ("Email", "not a vocabulary term"),
        ("user@example.invalid", "personal value"),
        ("+82 10 1234 5678", "personal value"),
    ):
        with pytest.raises(ContractError, match=reason):
            parse_event(_used(["email", bad]))
        assert bad not in events._TERMS_SEEN
    parse_event(_used(["email"]))  # and the remembered ones still pass


def test_remembered_terms_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_TERMS_SEEN", set())
    monkeypatch.setattr(events, "_TERMS_SEEN_MAX", 3)
    parse_event(_used(["a_one", "a_two", "a_three", "a_four", "a_five"]))
    assert len(events._TERMS_SEEN) == 3
    parse_event(_used(["a_five"]))  # past the bound: checked in full, still accepted


def test_pseudonym_is_hmac_sha256_as_documented() -> None:
    key = bytes(range(32))
    p = Pseudonymiser(key=key, key_id="k1")
    want = PREFIX + letters(hmac.new(key, b"customer-17", hashlib.sha256).digest()[:20])
    assert p.pseudonym("customer-17") == want
    assert p.pseudonymise("customer-17") == Pseudonym(want, "k1")


def test_builder_default_actor_and_pseudonym_fields() -> None:
    pseudo = Pseudonymiser(key=bytes(range(32)), key_id="k1")
    builder = EventBuilder(
        source=Source(service="support-desk"),
        pseudonymiser=pseudo,
        policy=default_policy(),
        metrics=SdkMetrics("hot-path", CollectorRegistry()),
        encoder=encode_event,
    )
    assert builder.service_actor == Actor(kind="service", id="support-desk")
    fields = {"items": ["phone"], "purpose": "user_management", "operation": "view"}
    event = builder.build("used", "customer-17", dict(fields))
    assert event.actor == Actor(kind="service", id="support-desk")
    assert event.subject_id == pseudo.pseudonym("customer-17")
    assert event.subject_key_id == "k1"
    given = builder.build("used", Pseudonym("ps_given", "k0"), dict(fields))
    assert (given.subject_id, given.subject_key_id) == ("ps_given", "k0")
