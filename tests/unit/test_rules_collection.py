"""UNKNOWN_TERM, OVER_COLLECTION, UNDECLARED_PURPOSE, OPTED_OUT_COLLECTION."""

from __future__ import annotations

import pytest
from fixtures.evfactory import Factory, rules_of, run

pytestmark = pytest.mark.unit


def test_unknown_terms_one_alert_listing_all(ev: Factory) -> None:
    alerts = run(
        ev.collect(
            0,
            items=["email", "shoe_size"],
            purposes=["user_management", "resale"],
            method="carrier_pigeon",
        )
    )
    unknown = [a for a in alerts if a.rule == "UNKNOWN_TERM"]
    assert len(unknown) == 1
    assert unknown[0].evidence["terms"] == [
        "items:shoe_size",
        "method:carrier_pigeon",
        "purposes:resale",
    ]
    assert "shoe_size" in unknown[0].message
    # other rules skip unknown terms: shoe_size is not reported as over-collected
    assert "OVER_COLLECTION" not in rules_of(alerts)
    assert "UNDECLARED_PURPOSE" not in rules_of(alerts)


@pytest.mark.parametrize(
    "make,term",
    [
        (lambda ev: ev.use(1, operation="photocopy"), "operation:photocopy"),
        (lambda ev: ev.disclose(1, basis="friendship"), "basis:friendship"),
        (lambda ev: ev("consent_given", 1, scope="newsletter"), "scope:newsletter"),
        (
            lambda ev: ev("access_requested", 1, request_id="req-1", channel="pigeon"),
            "channel:pigeon",
        ),
        (
            lambda ev: ev(
                "destroyed", 1, items=["email"], method="forget", reason="subject_request"
            ),
            "method:forget",
        ),
        (lambda ev: ev.collect(1, context="lottery"), "context:lottery"),
    ],
)
def test_unknown_term_in_each_field(ev: Factory, make, term: str) -> None:
    alerts = run(ev.collect(0), make(ev))
    assert [a.evidence["terms"] for a in alerts if a.rule == "UNKNOWN_TERM"] == [[term]]


def test_known_terms_raise_no_unknown_term(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev("consent_given", 1, scope="third_party:acme"),
        ev.use(2, operation="print"),
        ev("destroyed", 3, items=["email"], method="shred", reason="subject_request"),
    )
    assert "UNKNOWN_TERM" not in rules_of(alerts)


def test_unknown_item_is_skipped_by_use_rules(ev: Factory) -> None:
    alerts = run(ev.collect(0), ev.use(1, items=["email", "shoe_size"]))
    assert rules_of(alerts) == ["UNKNOWN_TERM"]  # not NOT_COLLECTED for shoe_size


def test_over_collection(ev: Factory) -> None:
    alerts = run(ev.collect(0, items=["email", "user_id"], context="product_inquiry"))
    assert rules_of(alerts) == ["OVER_COLLECTION"]
    assert alerts[0].evidence["items"] == ["user_id"]
    assert alerts[0].evidence["context"] == "product_inquiry"


def test_items_listed_for_context_are_fine(ev: Factory) -> None:
    # user_id IS listed for tech_support: the nearest non-violation
    assert run(ev.collect(0, items=["email", "user_id"], context="tech_support")) == []


def test_undeclared_purpose(ev: Factory) -> None:
    alerts = run(ev.collect(0, context="tech_support", purposes=["marketing"]))
    assert rules_of(alerts) == ["UNDECLARED_PURPOSE"]
    assert alerts[0].evidence["purposes"] == ["marketing"]


def test_declared_purpose_allowed(ev: Factory) -> None:
    assert run(ev.collect(0, context="product_inquiry", purposes=["marketing"])) == []


def cookie(ev: Factory, when: float):
    return ev.collect(
        when,
        items=["analytics_cookie"],
        context="analytics",
        purposes=["service_improvement"],
        method="cookie",
    )


def test_opted_out_collection(ev: Factory) -> None:
    alerts = run(ev("consent_withdrawn", 0, scope="analytics"), cookie(ev, 1))
    assert rules_of(alerts) == ["OPTED_OUT_COLLECTION"]


def test_consent_given_again_lifts_opt_out(ev: Factory) -> None:
    alerts = run(
        ev("consent_withdrawn", 0, scope="analytics"),
        ev("consent_given", 1, scope="analytics"),
        cookie(ev, 2),
    )
    assert alerts == []


def test_other_scope_withdrawn_does_not_stop_analytics(ev: Factory) -> None:
    assert run(ev("consent_withdrawn", 0, scope="marketing"), cookie(ev, 1)) == []
