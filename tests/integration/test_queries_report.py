"""The access report on the real server: content, attached proofs that verify, and no
personal values or staff ids in what the subject receives."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from history_fixture import AS_OF, VERIFIER_KEY, LoadedHistory, load_history

from privtrail.events import looks_personal
from privtrail.queries.report import (
    AccessReport,
    build_access_report,
    render_html,
    render_markdown,
)
from privtrail.tlog import NoteVerifier, ProofBundle

pytestmark = pytest.mark.integration

CITED_B = [
    "inv-006", "inv-009", "inv-010", "inv-007", "inv-014", "inv-104", "inv-008", "inv-011",
    "inv-012", "inv-013", "inv-105", "inv-110", "inv-111",
]  # fmt: skip


@pytest.fixture(scope="module")
def history(ch_admin: Any, ch_writer: Any) -> LoadedHistory:
    return load_history(ch_admin, ch_writer)


@pytest.fixture(scope="module")
def report_b(history: LoadedHistory, ch_investigator: Any) -> AccessReport:
    verifier = NoteVerifier.from_key_string(VERIFIER_KEY)
    return build_access_report(ch_investigator, "ps_inv_b", AS_OF, verifiers=[verifier])


def test_every_cited_event_has_a_bundle_that_verifies_offline(
    report_b: AccessReport, history: LoadedHistory
) -> None:
    assert [p.event_id for p in report_b.proofs] == CITED_B
    verifier = NoteVerifier.from_key_string(VERIFIER_KEY)
    by_id = {e["event_id"]: i for i, e in enumerate(history.events)}
    for proof in report_b.proofs:
        assert proof.bundle_json is not None, proof.missing
        bundle = ProofBundle.from_json(proof.bundle_json)
        checkpoint = bundle.verify([verifier])
        assert checkpoint.size == len(history.events)
        assert bundle.leaf_index == by_id[proof.event_id]
        assert json.loads(bundle.event)["event_id"] == proof.event_id


def test_markdown_names_items_uses_recipients_consents_and_proofs(report_b: AccessReport) -> None:
    text = render_markdown(report_b)
    held = text.split("## 1. Personal data we hold")[1].split("## 2.")[0]
    assert "| contact_name | service_improvement, user_management | held |" in held
    assert "| email | service_improvement, user_management | held |" in held
    assert "| user_id | service_improvement, user_management | held |" in held
    uses = text.split("## 2.")[1].split("## 3.")[0]
    assert "| used | email | user_management | staff:support_agent | view | - | inv-009 |" in uses
    provided = text.split("## 3.")[1].split("## 4.")[0]
    for recipient in ("lguplus", "ad_partner", "salesforce"):
        assert f"| {recipient} |" in provided
    assert "Consents active now: none." in text
    assert "Open requests: none." in text
    assert text.count("### Proof bundle for ") == len(CITED_B)
    assert "bundle attached" in text


def test_consents_and_open_requests_for_subject_a(
    history: LoadedHistory, ch_investigator: Any
) -> None:
    from history_fixture import START

    from privtrail.queries.types import parse_instant

    early = build_access_report(ch_investigator, "ps_inv_a", parse_instant("2019-03-06T00:00:00Z"))
    assert "Consents active now: marketing." in render_markdown(early)
    late = build_access_report(ch_investigator, "ps_inv_a", AS_OF)
    text = render_markdown(late)
    assert "Consents active now: none." in text
    assert "Open requests: acc-2." in text
    assert "| phone | contract_performance, user_management | archived |" in text
    assert "| police_agency | legal_request | warrant-2019-031 | inv-109 |" in text
    assert START < AS_OF


def test_without_verifier_keys_coordinates_and_checkpoint_are_attached(
    history: LoadedHistory, ch_investigator: Any
) -> None:
    report = build_access_report(ch_investigator, "ps_inv_c", AS_OF)
    assert [(p.event_id, p.leaf_index, p.bundle_json) for p in report.proofs] == [
        ("inv-015", 16, None), ("inv-017", 18, None), ("inv-016", 17, None),
    ]  # fmt: skip
    assert report.checkpoints == (history.checkpoint_note.decode(),)
    text = render_markdown(report)
    assert "### Signed checkpoint 1" in text
    assert history.checkpoint_note.decode().splitlines()[0] in text


def test_html_is_self_contained_and_escaped(report_b: AccessReport) -> None:
    page = render_html(report_b)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "http://" not in page and "https://" not in page
    assert "<td>lguplus</td>" in page
    assert page.count("<summary>Proof bundle for ") == len(CITED_B)
    # The bundles' JSON is escaped into <pre>, never raw markup.
    assert "&quot;leaf_index&quot;" in page


def test_report_shows_no_personal_values_and_no_staff_ids(report_b: AccessReport) -> None:
    for text in (render_markdown(report_b), render_html(report_b)):
        body = text.split("Attachments")[0]  # bundles carry the events verbatim
        assert "agent-" not in body  # staff appear by role only
        assert "10.0.0." not in body  # nor their addresses
        assert "@" not in body
        # Every word that is not a time or a hash passes the contract's personal-value check.
        words = re.findall(r"[^\s|`<>]+", body)
        assert [
            w
            for w in words
            if looks_personal(w) and not re.fullmatch(r"[\dTZ:.-]+|[0-9a-f]{64}", w)
        ] == []
