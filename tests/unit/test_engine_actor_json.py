"""ActorState.json_text: the remembered window texts give exactly the encoded dict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privtrail.engine.state import ActorState

pytestmark = pytest.mark.unit

encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

# Each step: append (seconds after T0, subject number) or pop the oldest entry.
steps = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 7_200), st.integers(0, 30), st.integers(0, 999_999)),
        st.just(None),
    ),
    max_size=300,
)


@given(steps, st.sets(st.sampled_from(["support", "billing", "marketing"])), st.booleans())
def test_same_bytes_as_encoding_the_dict_after_any_appends_and_expiries(
    ops: list[tuple[int, int, int] | None], roles: set[str], over: bool
) -> None:
    state = ActorState(actor_id="agent-7", roles=roles, over=over)
    for op in ops:
        if op is None:
            if state.window:
                state.window.popleft()
        else:
            seconds, subject, micros = op
            t = T0 + timedelta(seconds=seconds, microseconds=micros)
            state.window.append((t, f"ps_subject{subject}"))
        assert state.json_text() == encode(state.to_dict())


def test_remembered_texts_stay_bounded_by_the_window() -> None:
    state = ActorState(actor_id="agent-7")
    for n in range(5_000):
        state.window.append((T0 + timedelta(seconds=n), f"ps_subject{n % 40}"))
        if len(state.window) > 100:
            state.window.popleft()
        state.json_text()
    assert len(state._entry_text) <= 2 * len(state.window) + 64


def test_round_trips_through_from_dict() -> None:
    state = ActorState(actor_id="agent-7", roles={"support"})
    state.window.append((T0, "ps_subjecta"))
    again = ActorState.from_dict(json.loads(state.json_text()))
    assert again.to_dict() == state.to_dict()
    assert again.counts == {"ps_subjecta": 1}
