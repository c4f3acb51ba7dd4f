"""UNAUTHORIZED_HANDLER and BULK_ACCESS (the actor side)."""

from __future__ import annotations

import pytest
from fixtures.evfactory import Factory, at, rules_of, run

pytestmark = pytest.mark.unit

STAFF = ("staff", "agent-7")


def auth(ev: Factory, when: float, kind: str = "handler_authorized"):
    return ev(kind, when, actor=("system", "iam"), handler_id="agent-7", role="support")


@pytest.mark.parametrize(
    "make",
    [
        lambda ev: ev.collect(1, actor=STAFF),
        lambda ev: ev.use(1, actor=STAFF),
        lambda ev: ev.disclose(1, actor=STAFF),
        lambda ev: ev("corrected", 1, request_id="req-1", actor=STAFF),
        lambda ev: ev("archived", 1, items=["email"], actor=STAFF),
        lambda ev: ev(
            "destroyed", 1, items=["email"], method="shred", reason="purpose_fulfilled", actor=STAFF
        ),
        lambda ev: ev("identity_verified", 0.5, request_id="req-1", verified_as="self"),
    ],
)
def test_unauthorized_handler_for_each_staff_action(ev: Factory, make) -> None:
    events = [ev.collect(0), make(ev)]
    if events[-1].type == "identity_verified":
        events.append(ev("access_fulfilled", 1, request_id="req-1", actor=STAFF))
    alerts = run(*events)
    assert rules_of(alerts).count("UNAUTHORIZED_HANDLER") == 1
    alert = next(a for a in alerts if a.rule == "UNAUTHORIZED_HANDLER")
    assert alert.actor_id == "agent-7"


def test_authorized_handler_is_fine(ev: Factory) -> None:
    assert run(auth(ev, 0), ev.collect(0.5, actor=STAFF), ev.use(1, actor=STAFF)) == []


def test_revoked_handler(ev: Factory) -> None:
    alerts = run(
        auth(ev, 0),
        ev.collect(0.5, actor=STAFF),
        auth(ev, 0.7, "handler_revoked"),
        ev.use(1, actor=STAFF),
    )
    assert rules_of(alerts) == ["UNAUTHORIZED_HANDLER"]
    assert alerts[0].event_id == "evt-4"


def test_services_and_non_actions_are_not_handlers(ev: Factory) -> None:
    # a service actor, and a staff actor doing something that is not a handler action
    alerts = run(
        ev.collect(0),
        ev.use(1, actor=("service", "crm")),
        ev("access_requested", 1, request_id="req-1", channel="email", actor=STAFF),
    )
    assert alerts == []


def burst(
    ev: Factory, n: int, start_minutes: float, step_seconds: float = 1.0, prefix: str = "subj-"
) -> list:
    out = []
    for i in range(n):
        out.append(
            ev.use(
                at(minutes=start_minutes, seconds=i * step_seconds),
                subject=f"{prefix}{i:04d}",
                actor=STAFF,
            )
        )
    return out


def bulk_only(alerts: list) -> list:
    return [a for a in alerts if a.rule == "BULK_ACCESS"]


def test_bulk_access_fires_on_the_crossing_event(ev: Factory) -> None:
    events = [auth(ev, -1)] + [ev.collect(-1, subject=f"subj-{i:04d}") for i in range(300)]
    events += burst(ev, 201, 0)
    alerts = bulk_only(run(*events))
    assert len(alerts) == 1
    assert alerts[0].event_id == events[-1].event_id
    assert alerts[0].evidence["count"] == 201


def test_two_hundred_subjects_is_not_bulk(ev: Factory) -> None:
    events = [auth(ev, -1)] + burst(ev, 200, 0)
    events += [ev.use(at(minutes=5), subject="subj-0001", actor=STAFF)]  # repeat subject
    assert bulk_only(run(*events)) == []


def test_spread_over_more_than_an_hour_is_not_bulk(ev: Factory) -> None:
    events = [auth(ev, -1)] + burst(ev, 201, 0, step_seconds=18.0)  # 201 over 60 minutes
    assert bulk_only(run(*events)) == []


def test_bulk_fires_again_only_after_dropping_back(ev: Factory) -> None:
    events = [auth(ev, -1)] + burst(ev, 250, 0)  # crosses once at the 201st
    events += burst(ev, 250, 30, prefix="subj-x")  # still above: no new alert
    events += burst(ev, 201, 200, prefix="subj-y")  # window emptied, then crosses again
    alerts = bulk_only(run(*events))
    assert len(alerts) == 2
