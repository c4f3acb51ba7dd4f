"""format_timestamp: the fast isoformat path gives exactly the strftime form it replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privtrail.events import format_timestamp

pytestmark = pytest.mark.unit


def reference(value: datetime) -> str:
    value = value.astimezone(UTC)
    spec = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(spec)


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets)
)
def test_same_text_as_strftime_in_any_offset(value: datetime) -> None:
    assert format_timestamp(value) == reference(value)


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)))
def test_same_text_for_utc_with_and_without_microseconds(naive: datetime) -> None:
    value = naive.replace(tzinfo=UTC)
    assert format_timestamp(value) == reference(value)
    whole = value.replace(microsecond=0)
    assert format_timestamp(whole) == reference(whole)
    assert format_timestamp(whole).endswith(f":{whole.second:02d}Z")


def test_examples() -> None:
    assert format_timestamp(datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)) == "2026-11-27T01:02:03Z"
    assert (
        format_timestamp(datetime(2026, 11, 27, 10, 2, 3, 5, tzinfo=timezone(timedelta(hours=9))))
        == "2026-11-27T01:02:03.000005Z"
    )
