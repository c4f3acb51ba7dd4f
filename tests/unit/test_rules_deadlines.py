"""Deadline rules and ACCESS_UNVERIFIED: fire when missed, when closed late, once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fixtures.evfactory import Factory, at, rules_of, run

from privtrail.engine import Engine
from privtrail.policy import default_policy

pytestmark = pytest.mark.unit


def req(ev: Factory, when: float, rid: str = "req-1"):
    return ev("correction_requested", when, request_id=rid, items=["email"])


# -- CORRECTION_OVERDUE ----------------------------------------------------------------


def test_correction_overdue_when_deadline_passes(ev: Factory) -> None:
    start = req(ev, 0)
    alerts = run(ev.collect(-1), start, until=at(10, seconds=1))
    assert rules_of(alerts) == ["CORRECTION_OVERDUE"]
    assert alerts[0].event_id == start.event_id  # names the event that started the clock
    assert alerts[0].occurred_at == start.occurred_at
    assert alerts[0].evidence["due_at"] == "2025-03-11T00:00:00Z"


def test_correction_on_the_last_instant_is_in_time(ev: Factory) -> None:
    alerts = run(ev.collect(-1), req(ev, 0), ev("corrected", 10, request_id="req-1"), until=at(30))
    assert alerts == []


def test_not_yet_due_at_exactly_the_deadline(ev: Factory) -> None:
    assert run(ev.collect(-1), req(ev, 0), until=at(10)) == []


def test_late_correction_raises_once(ev: Factory) -> None:
    engine = Engine(default_policy())
    alerts = []
    for e in (ev.collect(-1), req(ev, 0)):
        alerts += engine.process(e)
    alerts += engine.process(ev("corrected", 12, request_id="req-1"))
    alerts += engine.advance(at(40))
    assert rules_of(alerts) == ["CORRECTION_OVERDUE"]
    # advancing again, or a repeated timer, never fires it twice
    assert engine.advance(at(400)) == []


# -- CORRECTION_NOT_PROPAGATED ---------------------------------------------------------


def test_recipient_not_notified(ev: Factory) -> None:
    corrected = ev("corrected", 2, request_id="req-1")
    alerts = run(
        ev.collect(-2),
        ev.disclose(-1, recipient="salesforce"),
        ev.disclose(-1, recipient="lguplus"),
        req(ev, 0),
        corrected,
        ev("recipient_notified", 5, request_id="req-1", recipient="lguplus"),
        until=at(20),
    )
    assert rules_of(alerts) == ["CORRECTION_NOT_PROPAGATED"]
    assert alerts[0].evidence["recipient"] == "salesforce"
    assert alerts[0].event_id == corrected.event_id


def test_one_alert_per_recipient(ev: Factory) -> None:
    alerts = run(
        ev.collect(-2),
        ev.disclose(-1, recipient="salesforce"),
        ev.disclose(-1, recipient="lguplus"),
        req(ev, 0),
        ev("corrected", 2, request_id="req-1"),
        until=at(20),
    )
    assert sorted(a.evidence["recipient"] for a in alerts) == ["lguplus", "salesforce"]
    assert len({a.alert_id for a in alerts}) == 2


def test_recipient_of_other_items_needs_no_notice(ev: Factory) -> None:
    alerts = run(
        ev.collect(-2),
        ev.disclose(-1, items=["contact_name"]),
        req(ev, 0),
        ev("corrected", 2, request_id="req-1"),
        until=at(20),
    )
    assert alerts == []


def test_notified_in_time(ev: Factory) -> None:
    alerts = run(
        ev.collect(-2),
        ev.disclose(-1),
        req(ev, 0),
        ev("corrected", 2, request_id="req-1"),
        ev("recipient_notified", 12, request_id="req-1", recipient="salesforce"),
        until=at(40),
    )
    assert alerts == []


def test_notified_late(ev: Factory) -> None:
    alerts = run(
        ev.collect(-2),
        ev.disclose(-1),
        req(ev, 0),
        ev("corrected", 2, request_id="req-1"),
        ev("recipient_notified", 13, request_id="req-1", recipient="salesforce"),
    )
    assert rules_of(alerts) == ["CORRECTION_NOT_PROPAGATED"]


# -- ACCESS_OVERDUE / ACCESS_UNVERIFIED -------------------------------------------------


def access(ev: Factory, when: float):
    return ev("access_requested", when, request_id="acc-1", channel="board")


def test_access_overdue(ev: Factory) -> None:
    start = access(ev, 0)
    alerts = run(start, until=at(11))
    assert rules_of(alerts) == ["ACCESS_OVERDUE"]
    assert alerts[0].event_id == start.event_id


def test_access_fulfilled_late(ev: Factory) -> None:
    alerts = run(
        access(ev, 0),
        ev("identity_verified", 1, request_id="acc-1", verified_as="self"),
        ev("access_fulfilled", 10.5, request_id="acc-1"),
    )
    assert rules_of(alerts) == ["ACCESS_OVERDUE"]


def test_access_fulfilled_in_time_and_verified(ev: Factory) -> None:
    alerts = run(
        access(ev, 0),
        ev("identity_verified", 1, request_id="acc-1", verified_as="legal_representative"),
        ev("access_fulfilled", 9, request_id="acc-1"),
        until=at(60),
    )
    assert alerts == []


def test_access_unverified(ev: Factory) -> None:
    alerts = run(access(ev, 0), ev("access_fulfilled", 2, request_id="acc-1"), until=at(60))
    assert rules_of(alerts) == ["ACCESS_UNVERIFIED"]


def test_verification_of_another_request_does_not_count(ev: Factory) -> None:
    alerts = run(
        access(ev, 0),
        ev("identity_verified", 1, request_id="acc-9", verified_as="self"),
        ev("access_fulfilled", 2, request_id="acc-1"),
    )
    assert rules_of(alerts) == ["ACCESS_UNVERIFIED"]


# -- DESTRUCTION_OVERDUE ------------------------------------------------------------------


def test_withdrawal_items_still_held_after_grace(ev: Factory) -> None:
    withdrawal = ev("withdrawal_requested", 1)
    alerts = run(
        ev.collect(0, items=["email", "phone"]),
        withdrawal,
        ev(
            "destroyed", 2, items=["phone"], method="irrecoverable_delete", reason="subject_request"
        ),
        until=at(6, seconds=1),
    )
    assert rules_of(alerts) == ["DESTRUCTION_OVERDUE"]
    assert alerts[0].event_id == withdrawal.event_id
    assert alerts[0].evidence["items"] == ["email"]


def test_withdrawal_destroyed_in_time(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, items=["email", "phone"]),
        ev("withdrawal_requested", 1),
        ev("destroyed", 6, items=["email", "phone"], method="shred", reason="subject_request"),
        until=at(30),
    )
    assert alerts == []


def test_withdrawal_keeps_record_items_for_their_retention(ev: Factory) -> None:
    records = ev.collect(
        0,
        items=["contract_record"],
        context="service_use",
        purposes=["legal_compliance"],
        method="service_use",
    )
    alerts = run(records, ev("withdrawal_requested", 1), until=at(30))
    assert alerts == []


def service_records(ev: Factory, when: datetime, items: list[str]):
    return ev.collect(
        when,
        items=items,
        context="service_use",
        purposes=["contract_performance"],
        method="service_use",
    )


def test_retention_overdue_names_the_collection(ev: Factory) -> None:
    start = service_records(ev, datetime(2024, 1, 10, tzinfo=UTC), ["web_visit_record"])
    alerts = run(start, until=datetime(2024, 4, 15, 0, 0, 1, tzinfo=UTC))
    assert rules_of(alerts) == ["DESTRUCTION_OVERDUE"]
    assert alerts[0].event_id == start.event_id
    assert alerts[0].evidence["due_at"] == "2024-04-15T00:00:00Z"  # 3 months + 5 days


def test_retention_destroyed_within_grace(ev: Factory) -> None:
    start = service_records(ev, datetime(2024, 1, 10, tzinfo=UTC), ["web_visit_record"])
    done = ev(
        "destroyed",
        datetime(2024, 4, 15, tzinfo=UTC),
        items=["web_visit_record"],
        method="irrecoverable_delete",
        reason="retention_expired",
    )
    assert run(start, done, until=datetime(2026, 1, 1, tzinfo=UTC)) == []


def test_retention_from_leap_day_clamps_to_month_end(ev: Factory) -> None:
    start = service_records(ev, datetime(2024, 2, 29, 12, tzinfo=UTC), ["service_usage_record"])
    alerts = run(start, until=datetime(2025, 3, 6, 12, 0, 1, tzinfo=UTC))
    # P1Y from 2024-02-29 is 2025-02-28, plus P5D
    assert [a.evidence["due_at"] for a in alerts] == ["2025-03-05T12:00:00Z"]


def test_retention_one_alert_per_collected_event(ev: Factory) -> None:
    start = service_records(
        ev, datetime(2020, 1, 1, tzinfo=UTC), ["web_visit_record", "contract_record"]
    )
    alerts = run(start, until=datetime(2030, 1, 1, tzinfo=UTC))
    assert rules_of(alerts) == ["DESTRUCTION_OVERDUE"]
    assert alerts[0].evidence["items"] == ["contract_record", "web_visit_record"]
    # judged in steps, the first overdue item flags the event; no second alert later
    engine = Engine(default_policy())
    engine.process(start)
    first = engine.advance(datetime(2021, 1, 1, tzinfo=UTC))
    assert [a.evidence["items"] for a in first] == [["web_visit_record"]]
    assert engine.advance(datetime(2030, 1, 1, tzinfo=UTC)) == []


def test_late_destruction_fires_then(ev: Factory) -> None:
    start = service_records(ev, datetime(2024, 1, 10, tzinfo=UTC), ["web_visit_record"])
    late = ev(
        "destroyed",
        datetime(2024, 5, 1, tzinfo=UTC),
        items=["web_visit_record"],
        method="shred",
        reason="retention_expired",
    )
    alerts = run(start, late)
    assert rules_of(alerts) == ["DESTRUCTION_OVERDUE"]
    assert alerts[0].event_id == start.event_id
