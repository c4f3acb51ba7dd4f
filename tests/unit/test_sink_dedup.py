from __future__ import annotations

import pytest

from privtrail.sinks.dedup import RecentIds

pytestmark = pytest.mark.unit


def test_membership_and_order_of_eviction() -> None:
    recent = RecentIds(3, ["e1", "e2"])
    assert "e1" in recent and "e3" not in recent
    recent.add("e3")
    recent.add("e4")  # evicts the oldest, e1
    assert "e1" not in recent
    assert [e in recent for e in ("e2", "e3", "e4")] == [True, True, True]
    assert len(recent) == 3


def test_adding_a_member_again_changes_nothing() -> None:
    recent = RecentIds(2, ["e1", "e2"])
    recent.add("e1")
    recent.add("e3")
    assert "e1" not in recent and "e2" in recent and "e3" in recent


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RecentIds(0)
