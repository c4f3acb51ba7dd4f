"""The benchmark workload: valid, known vocabulary, deterministic, sharded by subject, and
its violations are exactly the events the Engine raises alerts for."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from privtrail.bench.workload import (
    WorkloadConfig,
    all_items,
    setup_events,
    shard_items,
)
from privtrail.engine import Engine
from privtrail.events import looks_personal, parse_event
from privtrail.policy import default_policy

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CONFIG = WorkloadConfig(
    events=3000, subjects=600, actors=6, violation_rate=0.05, seed=3, start=START
)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_every_event_is_valid_known_and_impersonal() -> None:
    policy = default_policy()
    for form in [*setup_events(CONFIG), *(w.event for w in all_items(CONFIG, 3))]:
        event = parse_event(form)  # raises ContractError on anything invalid
        assert policy.unknown_terms(event) == [], form
        assert not [s for s in _strings(form) if looks_personal(s)], form


def test_same_config_same_events() -> None:
    assert all_items(CONFIG, 2) == all_items(CONFIG, 2)
    other = WorkloadConfig(
        events=3000, subjects=600, actors=6, violation_rate=0.05, seed=4, start=START
    )
    assert [w.event for w in all_items(other, 2)] != [w.event for w in all_items(CONFIG, 2)]


def test_shards_split_subjects_and_keep_their_order() -> None:
    shards = [shard_items(CONFIG, s, 3) for s in range(3)]
    assert sum(len(s) for s in shards) == CONFIG.events
    owners: dict[str, set[int]] = defaultdict(set)
    for n, items in enumerate(shards):
        for w in items:
            owners[w.event["subject_id"]].add(n)
        stamps = [
            datetime.fromisoformat(w.event["occurred_at"].replace("Z", "+00:00")) for w in items
        ]
        assert stamps == sorted(stamps)
    assert all(len(o) == 1 for o in owners.values()), "a subject in two producers"
    merged = all_items(CONFIG, 3)
    assert [w.index for w in merged] == sorted(w.index for w in merged)
    assert len({w.event["event_id"] for w in merged}) == CONFIG.events


def test_the_mix_has_every_kind_of_processing() -> None:
    kinds = {w.event["type"] for w in all_items(CONFIG, 1)}
    assert {
        "collected",
        "used",
        "disclosed",
        "consent_given",
        "consent_withdrawn",
        "correction_requested",
        "corrected",
        "access_requested",
        "identity_verified",
        "access_fulfilled",
        "destroyed",
    } <= kinds


def test_violations_are_what_the_engine_flags() -> None:
    engine = Engine(default_policy())
    for form in setup_events(CONFIG):
        assert engine.process(parse_event(form)) == []
    items = all_items(CONFIG, 2)
    flagged = [w for w in items if engine.process(parse_event(w.event))]
    assert [w.index for w in flagged] == [w.index for w in items if w.violation]
    share = len(flagged) / len(items)
    assert 0.02 < share < 0.08
    assert "BULK_ACCESS" not in engine.stats.by_rule


def test_bulk_access_flag_and_bad_configs() -> None:
    assert not CONFIG.bulk_access_possible
    assert WorkloadConfig(subjects=10_001, actors=50).bulk_access_possible
    with pytest.raises(ValueError):
        WorkloadConfig(violation_rate=1.5)
    with pytest.raises(ValueError):
        WorkloadConfig(subjects=0)
    with pytest.raises(ValueError):
        shard_items(CONFIG, 3, 3)
