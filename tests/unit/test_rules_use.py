"""Rules on `used`/`disclosed` judged against the subject's history."""

from __future__ import annotations

import pytest
from fixtures.evfactory import Factory, rules_of, run

pytestmark = pytest.mark.unit


def test_not_collected(ev: Factory) -> None:
    alerts = run(ev.collect(0, items=["email"]), ev.use(1, items=["email", "phone"]))
    assert rules_of(alerts) == ["NOT_COLLECTED"]
    assert alerts[0].evidence["items"] == ["phone"]


def test_collected_for_another_subject_is_not_collected(ev: Factory) -> None:
    alerts = run(ev.collect(0, subject="subj-0002"), ev.use(1, subject="subj-0001"))
    assert rules_of(alerts) == ["NOT_COLLECTED"]


def test_use_of_collected_item_is_fine(ev: Factory) -> None:
    assert run(ev.collect(0), ev.use(1)) == []


def test_purpose_violation(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["user_management"]), ev.use(1, purpose="contract_performance")
    )
    assert rules_of(alerts) == ["PURPOSE_VIOLATION"]
    ev_ = alerts[0].evidence
    assert ev_["purpose"] == "contract_performance"
    assert ev_["declared_purposes"] == {"email": ["user_management"]}


def test_purpose_declared_by_a_later_collection_counts(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["user_management"]),
        ev.collect(1, purposes=["contract_performance"]),
        ev.use(2, purpose="contract_performance"),
    )
    assert alerts == []


def test_legal_compliance_exempt_from_purpose_violation(ev: Factory) -> None:
    assert run(ev.collect(0), ev.use(1, purpose="legal_compliance")) == []


def test_marketing_without_consent(ev: Factory) -> None:
    alerts = run(ev.collect(0, purposes=["marketing"]), ev.use(1, purpose="marketing"))
    assert rules_of(alerts) == ["MARKETING_WITHOUT_CONSENT"]


def test_marketing_with_consent(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["marketing"]),
        ev("consent_given", 0.5, scope="marketing"),
        ev.use(1, purpose="marketing"),
    )
    assert alerts == []


def test_marketing_after_consent_withdrawn(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["marketing"]),
        ev("consent_given", 0.5, scope="marketing"),
        ev("consent_withdrawn", 0.7, scope="marketing"),
        ev.disclose(1, recipient="benchmark_email", purpose="marketing"),
    )
    assert rules_of(alerts) == ["MARKETING_WITHOUT_CONSENT"]


def test_use_during_correction(ev: Factory) -> None:
    alerts = run(
        ev.collect(0), ev("correction_requested", 1, request_id="req-1", items=["email"]), ev.use(2)
    )
    assert rules_of(alerts) == ["USE_DURING_CORRECTION"]
    assert alerts[0].evidence["request_ids"] == ["req-1"]


def test_use_carrying_the_correction_request_id_is_fine(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev("correction_requested", 1, request_id="req-1", items=["email"]),
        ev.use(2, operation="modify", request_id="req-1"),
    )
    assert alerts == []


def test_use_of_other_item_or_after_corrected_is_fine(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev("correction_requested", 1, request_id="req-1", items=["contact_name"]),
        ev.use(2, items=["email"]),
        ev("corrected", 3, request_id="req-1"),
        ev.use(4, items=["contact_name"]),
    )
    assert alerts == []


def test_use_after_destruction(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev("destroyed", 1, items=["email"], method="shred", reason="purpose_fulfilled"),
        ev.use(2),
    )
    assert rules_of(alerts) == ["USE_AFTER_DESTRUCTION"]


def test_recollected_after_destruction_is_held_again(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev("destroyed", 1, items=["email"], method="shred", reason="purpose_fulfilled"),
        ev.collect(2),
        ev.use(3),
    )
    assert alerts == []


def test_recollection_resets_declared_purposes(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["contract_performance"]),
        ev("destroyed", 1, items=["email"], method="shred", reason="subject_request"),
        ev.collect(2, purposes=["user_management"]),
        ev.use(3, purpose="contract_performance"),
    )
    assert rules_of(alerts) == ["PURPOSE_VIOLATION"]


def test_archive_misuse(ev: Factory) -> None:
    alerts = run(ev.collect(0), ev("archived", 1, items=["email"]), ev.use(2))
    assert rules_of(alerts) == ["ARCHIVE_MISUSE"]


def test_archived_item_for_legal_compliance_is_fine(ev: Factory) -> None:
    alerts = run(
        ev.collect(0), ev("archived", 1, items=["email"]), ev.use(2, purpose="legal_compliance")
    )
    assert alerts == []


def test_use_after_withdrawal(ev: Factory) -> None:
    alerts = run(ev.collect(0), ev("withdrawal_requested", 1), ev.use(2))
    assert rules_of(alerts) == ["USE_AFTER_WITHDRAWAL"]
    assert alerts[0].evidence["withdrawal_event_id"] == "evt-2"


def test_use_before_withdrawal_or_for_legal_compliance_is_fine(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev.use(1),
        ev("withdrawal_requested", 2),
        ev.use(3, purpose="legal_compliance"),
    )
    assert alerts == []


def test_download_without_reason(ev: Factory) -> None:
    alerts = run(ev.collect(0), ev.use(1, operation="download"))
    assert rules_of(alerts) == ["DOWNLOAD_WITHOUT_REASON"]


def test_download_with_reason_or_view_without_reason(ev: Factory) -> None:
    alerts = run(
        ev.collect(0),
        ev.use(1, operation="download", reason="ticket-42 export"),
        ev.use(2, operation="view"),
    )
    assert alerts == []


def test_an_event_can_raise_several_rules_in_catalogue_order(ev: Factory) -> None:
    alerts = run(
        ev.collect(0, purposes=["user_management"]),
        ev("archived", 1, items=["email"]),
        ev.use(2, items=["email", "phone"], purpose="marketing", operation="download"),
    )
    assert rules_of(alerts) == [
        "NOT_COLLECTED",
        "PURPOSE_VIOLATION",
        "MARKETING_WITHOUT_CONSENT",
        "ARCHIVE_MISUSE",
        "DOWNLOAD_WITHOUT_REASON",
    ]
    assert len({a.alert_id for a in alerts}) == len(alerts)
    assert all(a.policy_version == "colabox-v1" for a in alerts)
