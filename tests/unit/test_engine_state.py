"""State serialisation (Faust changelog form) and small Engine contracts."""

from __future__ import annotations

import json

import pytest
from fixtures.evfactory import Factory, at

from privtrail.engine import (
    ActorEngine,
    ActorState,
    Engine,
    SubjectEngine,
    SubjectState,
    actor_key,
    subject_key,
)
from privtrail.policy import default_policy

pytestmark = pytest.mark.unit

POLICY = default_policy()


def test_subject_state_round_trips_through_json() -> None:
    ev = Factory()
    engine = SubjectEngine(POLICY)
    state = SubjectState(subject_id="subj-0001")
    for e in (
        ev.collect(0, items=["email", "phone"], purposes=["user_management", "marketing"]),
        ev.collect(
            0,
            items=["contract_record"],
            context="service_use",
            purposes=["legal_compliance"],
            method="service_use",
        ),
        ev("consent_given", 0, scope="marketing"),
        ev("consent_withdrawn", 0, scope="analytics"),
        ev.disclose(1),
        ev("archived", 1, items=["phone"]),
        ev("correction_requested", 2, request_id="req-1", items=["email"]),
        ev("access_requested", 2, request_id="acc-1", channel="email"),
        ev("identity_verified", 2, request_id="acc-1", verified_as="self"),
        ev("withdrawal_requested", 3),
        ev("destroyed", 3, items=["phone"], method="shred", reason="subject_request"),
    ):
        engine.process(state, e)
    data = json.loads(json.dumps(state.to_dict()))
    again = SubjectState.from_dict(data)
    assert again.to_dict() == state.to_dict()
    # the withdrawal on day 3 starts a 5-day clock: the earliest pending deadline
    assert again.next_due() == state.next_due() == at(8)
    # the restored state judges the future exactly like the original
    later = ev.use(4, items=["email"])
    assert [a.to_json() for a in engine.process(again, later)] == [
        a.to_json() for a in engine.process(state, later)
    ]


def test_actor_state_round_trips_through_json() -> None:
    ev = Factory()
    engine = ActorEngine(POLICY)
    state = ActorState(actor_id="agent-7")
    engine.process(state, ev("handler_authorized", 0, handler_id="agent-7", role="support"))
    for i in range(5):
        engine.process(
            state, ev.use(at(minutes=i), subject=f"subj-{i:04d}", actor=("staff", "agent-7"))
        )
    again = ActorState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.to_dict() == state.to_dict()
    assert again.counts == state.counts and again.roles == {"support"}


def test_keys() -> None:
    ev = Factory()
    assert subject_key(ev.use(1)) == "subj-0001"
    assert subject_key(ev("handler_authorized", 0, handler_id="agent-7", role="x")) is None
    assert actor_key(ev("handler_revoked", 0, handler_id="agent-7", role="x")) == "agent-7"
    assert actor_key(ev.use(1, actor=("staff", "agent-3"))) == "agent-3"
    assert actor_key(ev.use(1, actor=("service", "crm"))) is None
    assert actor_key(ev("consent_given", 1, scope="marketing", actor=("staff", "a-1"))) is None


def test_event_policy_version_wins() -> None:
    ev = Factory()
    alerts = Engine(POLICY).process(ev.use(1, policy_version="colabox-v9"))
    assert [a.policy_version for a in alerts] == ["colabox-v9"]


def test_deadline_alert_carries_the_starting_events_version() -> None:
    ev = Factory()
    engine = Engine(POLICY)
    engine.process(
        ev("access_requested", 0, request_id="acc-1", channel="board", policy_version="colabox-v7")
    )
    [alert] = engine.advance(at(11))
    assert alert.policy_version == "colabox-v7" and alert.rule == "ACCESS_OVERDUE"


def test_advance_is_idempotent_and_monotonic() -> None:
    ev = Factory()
    engine = Engine(POLICY)
    engine.process(ev("access_requested", 0, request_id="acc-1", channel="board"))
    assert engine.advance(at(5)) == []
    assert len(engine.advance(at(11))) == 1
    assert engine.advance(at(11)) == [] and engine.advance(at(5)) == []
