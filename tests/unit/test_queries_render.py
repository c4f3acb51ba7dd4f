"""The access report's rendering without a server: sections, escaping, self-contained HTML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from privtrail.queries import QueryResult
from privtrail.queries.report import AccessReport, CitedProof, render_html, render_markdown

pytestmark = pytest.mark.unit

T = datetime(2019, 3, 4, 0, 31, tzinfo=UTC)
STATE = QueryResult(
    ("aspect", "term", "detail", "since"),
    [
        ("held", "email", ["user_management"], T),
        ("archived", "phone", ["user_management"], T),
        ("consent", "marketing", [], T),
        ("received", "salesforce", ["email"], T),
        ("open_access", "acc-9", [], T),
    ],
)
COLUMNS = (
    "section", "occurred_at", "event_id", "type", "items", "purposes", "party", "detail",
    "legal_reference", "log_topic", "log_partition", "leaf_index", "leaf_hash",
)  # fmt: skip
EVENTS = QueryResult(
    COLUMNS,
    [
        ("collection", T, "e-1", "collected", ["email", "phone"], ["user_management"],
         "service:web", "product_inquiry", "", "topic", 0, 0, "aa" * 32),
        ("use", T, "e-2", "used", ["email"], ["user_management"], "staff:support_agent",
         "view", "", "topic", 0, 1, "bb" * 32),
        ("provision", T, "e-3", "disclosed", ["phone"], ["legal_compliance"], "police<agency>",
         "legal_request", "warrant|1", "topic", 0, 2, "cc" * 32),
    ],
)  # fmt: skip


def report(bundles: bool) -> AccessReport:
    proofs = tuple(
        CitedProof(
            e, "topic", 0, i, h * 32, bundle_json=f'{{"leaf_index": {i}}}' if bundles else None
        )
        for i, (e, h) in enumerate([("e-1", "aa"), ("e-2", "bb"), ("e-3", "cc")])
    )
    return AccessReport("ps_x", T, STATE, EVENTS, proofs, ("origin\n3\nroot=\n\n— sig\n",))


def test_markdown_sections() -> None:
    text = render_markdown(report(bundles=True))
    assert "- Subject (pseudonym): `ps_x`" in text
    assert "| email | user_management | held | 2019-03-04T00:31:00Z |" in text
    assert "| phone | user_management | archived | 2019-03-04T00:31:00Z |" in text
    assert "Consents active now: marketing." in text
    assert "Open requests: acc-9." in text
    assert "| staff:support_agent | view | - | e-2 |" in text
    assert "| police<agency> | legal_request | warrant\\|1 | e-3 |" in text  # pipe escaped
    assert text.count("### Proof bundle for e-") == 3
    assert "Signed checkpoint" not in text


def test_markdown_without_bundles_attaches_the_checkpoint() -> None:
    text = render_markdown(report(bundles=False))
    assert "coordinates only" in text
    assert "### Signed checkpoint 1" in text
    assert "### Proof bundle" not in text


def test_html_escapes_and_has_no_external_assets() -> None:
    page = render_html(report(bundles=True))
    assert "<td>police&lt;agency&gt;</td>" in page
    assert "police<agency>" not in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert page.count("<details>") == 3
    assert page.rstrip().endswith("</html>")
