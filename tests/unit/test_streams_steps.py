"""The worker's pure parts: ledgers, subject/actor steps, and their verdicts vs the Engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures.bytesteps import next_due, on_event, on_tick

from privtrail.alerts import Alert
from privtrail.engine import Engine, SubjectState, actor_key, evaluate_stateless
from privtrail.events import parse_event
from privtrail.policy import default_policy
from privtrail.scenario import colabox_scenario
from privtrail.streams.actors import ActorStep
from privtrail.streams.enforce import SubjectStep
from privtrail.streams.ledger import RECENT, Ledger, LedgerCache

pytestmark = pytest.mark.unit

POLICY = default_policy()
START = datetime(2025, 3, 1, tzinfo=UTC)
Key = tuple[str, str, str | None]


def key(alert: Alert) -> Key:
    return (alert.rule, alert.event_id, alert.evidence.get("recipient"))


def scenario() -> list[Any]:
    return [parse_event(f) for f in colabox_scenario(START, prefix="u")]


def run_like_the_worker(events: list[Any], now: datetime) -> list[Alert]:
    """Route events as the topology does, with dict "tables" holding the bytes."""
    subjects, actors = SubjectStep(POLICY), ActorStep(POLICY)
    s_table: dict[bytes, bytes] = {}
    a_table: dict[bytes, bytes] = {}
    out: list[Alert] = []
    for event in events:
        if event.subject_id is None:
            out += evaluate_stateless(POLICY, event)
        else:
            k = event.subject_id.encode()
            result = on_event(subjects, k, s_table.get(k), event)
            s_table[k] = result.value
            out += result.alerts
        actor = actor_key(event)
        if actor is not None:
            k = actor.encode()
            result = on_event(actors, k, a_table.get(k), event)
            a_table[k] = result.value
            out += result.alerts
    for k, raw in list(s_table.items()):  # the timer's tick for every subject
        result = on_tick(subjects, k, raw, "tick:test", now)
        s_table[k] = result.value
        out += result.alerts
    return out


def engine_alerts(events: list[Any], now: datetime) -> set[Key]:
    engine = Engine(POLICY)
    got = {key(a) for e in events for a in engine.process(e)}
    return got | {key(a) for a in engine.advance(now)}


@pytest.mark.parametrize("days", [0, 12, 40, 400])
def test_the_worker_routing_gives_the_engine_verdicts(days: int) -> None:
    events = scenario()
    now = START + timedelta(days=days, minutes=30)
    assert {key(a) for a in run_like_the_worker(events, now)} == engine_alerts(events, now)


def test_the_scenario_has_deadlines_at_forty_days() -> None:
    rules = {r for r, _, _ in engine_alerts(scenario(), START + timedelta(days=40))}
    assert "CORRECTION_NOT_PROPAGATED" in rules and "DESTRUCTION_OVERDUE" in rules


def test_replayed_event_keeps_state_and_resends_its_alerts() -> None:
    step = SubjectStep(POLICY)
    events = [e for e in scenario() if e.subject_id and e.subject_id.endswith("_a")]
    raw: bytes | None = None
    k = events[0].subject_id.encode()
    first: list[Alert] = []
    for e in events:
        result = on_event(step, k, raw, e)
        assert not result.replayed
        raw, first = result.value, result.alerts
    assert first, "the last event of subject A raises alerts"
    again = on_event(step, k, raw, events[-1])
    assert again.replayed
    assert again.value == raw
    assert [a.alert_id for a in again.alerts] == [a.alert_id for a in first]
    # A fresh step (no cache, as after a restart) reads the same from the bytes alone.
    fresh = on_event(SubjectStep(POLICY), k, raw, events[-1])
    assert fresh.replayed and [a.to_json() for a in fresh.alerts] == [a.to_json() for a in first]


def test_replayed_tick_does_not_fire_twice_and_resends() -> None:
    step = SubjectStep(POLICY)
    e = [x for x in scenario() if x.type == "correction_requested"][0]
    k = e.subject_id.encode()
    raw = on_event(step, k, None, e).value
    assert next_due(step, k, raw) is not None
    late = START + timedelta(days=30)
    fired = on_tick(step, k, raw, "tick:1", late)
    assert [a.rule for a in fired.alerts] == ["CORRECTION_OVERDUE"]
    assert on_tick(step, k, fired.value, "tick:1", late).alerts == fired.alerts
    assert on_tick(step, k, fired.value, "tick:2", late).alerts == []


def test_ledger_remembers_the_last_recent_ops_only() -> None:
    ledger = Ledger(SubjectState(subject_id="ps_x"))
    for n in range(RECENT + 5):
        ledger.remember(f"op-{n}", [])
    assert ledger.replay("op-0") is None
    assert ledger.replay(f"op-{RECENT + 4}") == []
    back = Ledger.from_bytes(ledger.to_bytes(), SubjectState.from_dict)
    assert list(back.recent) == list(ledger.recent)


def test_cache_is_bypassed_when_the_table_holds_other_bytes() -> None:
    cache: LedgerCache[SubjectState] = LedgerCache(
        SubjectState.from_dict, lambda s: SubjectState(subject_id=s), limit=2
    )
    ledger = Ledger(SubjectState(subject_id="ps_x"))
    raw = ledger.to_bytes()
    cache.put(b"ps_x", raw, ledger)
    assert cache.get(b"ps_x", raw) is ledger
    recovered = bytes(bytearray(raw))  # equal bytes, another object: a recovery
    assert cache.get(b"ps_x", recovered) is not ledger
    cache.put(b"b", raw, ledger)
    cache.put(b"c", raw, ledger)
    assert len(cache) == 2


def test_event_decoder_returns_what_decode_returns_and_keeps_only_what_it_is_told() -> None:
    from privtrail.errors import WireError
    from privtrail.streams.codecs import EventDecoder
    from privtrail.wire import decode_event, encode_event

    events = scenario()
    raw = [encode_event(e) for e in events]
    decoder = EventDecoder(size=4)
    decoded = [decoder.decode(r) for r in raw]
    assert decoded == [decode_event(r) for r in raw]
    # decoding alone keeps nothing: an event judged in place is never read again
    assert decoder.misses == len(raw) and len(decoder) == 0
    for r, event in zip(raw, decoded, strict=True):
        decoder.remember(r, event)
    assert len(decoder) == 4  # the oldest went
    # a hit is the remembered object itself, found by the bytes (not the bytes object)
    assert decoder.decode(bytes(bytearray(raw[-1]))) is decoded[-1]
    assert decoder.decode(raw[-1]) is decoded[-1]
    assert decoder.hits == 2
    assert decoder.decode(raw[0]) is not decoded[0]  # evicted: decoded afresh, equal
    assert decoder.decode(raw[0]) == decoded[0]
    decoder.remember(raw[-1], decoded[-1])  # remembering twice keeps one entry
    assert len(decoder) == 4
    with pytest.raises(WireError):
        decoder.decode(b"\x00garbage")
    assert len(decoder) == 4


def test_decode_record_skips_an_undecodable_record_with_its_coordinates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from types import SimpleNamespace

    from privtrail.streams.codecs import EventDecoder
    from privtrail.wire import encode_event

    event = scenario()[0]
    decoder = EventDecoder()

    def record(value: bytes) -> Any:
        message = SimpleNamespace(topic="privacy.events.valid", partition=3, offset=41)
        return SimpleNamespace(value=value, message=message)

    assert decoder.decode_record(record(encode_event(event))) == event
    assert decoder.decode_record(record(b"\x00garbage")) is None
    assert "undecodable record on privacy.events.valid[3]@41 skipped" in caplog.text


def test_the_worker_freezes_the_heap_it_starts_with_and_collects_young_objects_less_often() -> None:
    import gc

    from privtrail.streams import collector

    before = gc.get_threshold()
    try:
        assert collector.tune_collector() == before
        assert gc.get_threshold() == (
            collector.YOUNG_THRESHOLD,
            collector.MIDDLE_THRESHOLD,
            collector.OLD_THRESHOLD,
        )
        assert gc.get_freeze_count() > 0
        # cycles made afterwards are still found and freed
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
