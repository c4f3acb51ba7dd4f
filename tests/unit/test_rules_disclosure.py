"""Disclosure rules (basis, processors, statistics) and NOTICE_PERIOD_SHORT."""

from __future__ import annotations

import pytest
from fixtures.evfactory import Factory, at, rules_of, run

from privtrail.engine import evaluate_stateless
from privtrail.policy import default_policy

pytestmark = pytest.mark.unit


def test_third_party_on_consent_without_consent(ev: Factory) -> None:
    alerts = run(ev.collect(0), ev.disclose(1, recipient="acme", basis="consent"))
    assert rules_of(alerts) == ["DISCLOSURE_WITHOUT_BASIS"]
    assert alerts[0].evidence["recipient"] == "acme"


def test_third_party_with_its_own_consent(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev("consent_given", 0.5, scope="third_party:acme"),
        ev.disclose(1, recipient="acme", basis="consent"),
    )
    assert alerts == []


def test_consent_for_another_recipient_does_not_count(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev("consent_given", 0.5, scope="third_party:globex"),
        ev.disclose(1, recipient="acme", basis="consent"),
    )
    assert rules_of(alerts) == ["DISCLOSURE_WITHOUT_BASIS"]


def test_legal_request_needs_a_reference(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev.disclose(1, recipient="police", basis="legal_request", purpose="legal_compliance"),
    )
    assert rules_of(alerts) == ["DISCLOSURE_WITHOUT_BASIS"]
    ok = run(
        ev.collect(0),
        ev.disclose(
            1,
            recipient="police",
            basis="legal_request",
            purpose="legal_compliance",
            legal_reference="warrant-2025-17",
        ),
    )
    assert ok == []


def test_entrustment_to_a_non_processor(ev: Factory) -> None:
    alerts = run(ev.collect(0), ev.disclose(1, recipient="acme", basis="entrustment"))
    assert rules_of(alerts) == ["UNAUTHORIZED_PROCESSOR"]
    assert alerts[0].evidence["processor"] is False


def test_processor_outside_its_purpose(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["user_management", "marketing"]),
        ev("consent_given", 0.5, scope="marketing"),
        ev.disclose(1, recipient="lguplus", purpose="marketing"),
    )
    assert rules_of(alerts) == ["UNAUTHORIZED_PROCESSOR"]


def test_processor_outside_its_items(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["service_improvement"], context="tech_support"),
        ev.disclose(1, recipient="google_analytics", purpose="service_improvement"),
    )
    assert rules_of(alerts) == ["UNAUTHORIZED_PROCESSOR"]
    assert alerts[0].evidence["items"] == ["email"]


def test_processor_within_its_entrustment(ev: Factory) -> None:
    cookie = ev.collect(
        0,
        items=["analytics_cookie"],
        context="analytics",
        purposes=["service_improvement"],
        method="cookie",
    )
    alerts = run(
        ev.collect(0),
        cookie,
        ev.disclose(1, recipient="salesforce", purpose="user_management"),
        ev.disclose(
            1,
            recipient="google_analytics",
            items=["analytics_cookie"],
            purpose="service_improvement",
        ),
    )
    assert alerts == []


def test_identifiable_statistics(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, items=["email", "region"]),
        ev.disclose(
            1,
            items=["region", "email"],
            recipient="stats_institute",
            basis="deidentified_statistics",
        ),
    )
    assert rules_of(alerts) == ["IDENTIFIABLE_STATISTICS"]
    assert alerts[0].evidence["items"] == ["email"]


def test_statistics_without_identifiers(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, items=["region", "company_name"]),
        ev.disclose(
            1,
            items=["region", "company_name"],
            recipient="stats_institute",
            basis="deidentified_statistics",
        ),
    )
    assert alerts == []


def published(ev: Factory, days: float, significant: bool):
    return ev(
        "policy_published",
        0,
        policy_version="colabox-v2",
        announced_at=at(0).isoformat(),
        effective_at=at(days).isoformat(),
        significant=significant,
    )


@pytest.mark.parametrize(
    "days,significant,fires",
    [
        (6.9, False, True),
        (7, False, False),
        (29, True, True),
        (30, True, False),
        (10, True, True),
    ],
)
def test_notice_period(ev: Factory, days: float, significant: bool, fires: bool) -> None:
    event = published(ev, days, significant)
    alerts = run(event)
    assert rules_of(alerts) == (["NOTICE_PERIOD_SHORT"] if fires else [])
    if fires:
        assert alerts[0].subject_id is None
        assert alerts[0].policy_version == "colabox-v2"
        assert alerts[0].evidence["required_notice"] == ("P30D" if significant else "P7D")
    # the stateless part is the single producer for no-subject events
    assert rules_of(evaluate_stateless(default_policy(), event)) == rules_of(alerts)


def test_stateless_part_is_silent_for_subject_events(ev: Factory) -> None:
    assert evaluate_stateless(default_policy(), ev.use(1, operation="download")) == []
