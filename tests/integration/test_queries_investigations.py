"""Every investigation on the real ClickHouse server, seeded with the scripted COLABOX history.

Each test asserts the query's exact rows. The history (``history_fixture``) lives in its own
log topic, pseudonyms and time window, so the whole-history queries are asked about its
period only and other tests' data cannot change their answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from history_fixture import AS_OF, PERIOD_FROM, PERIOD_TO, LoadedHistory, load_history

from privtrail.policy import default_policy
from privtrail.queries import QueryResult, list_queries, load_query, policy_parameters, run_query

pytestmark = pytest.mark.integration


def t(text: str) -> datetime:
    """A UTC instant written 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def history(ch_admin: Any, ch_writer: Any) -> LoadedHistory:
    return load_history(ch_admin, ch_writer)


@pytest.fixture
def run(history: LoadedHistory, ch_investigator: Any) -> Callable[..., QueryResult]:
    """Run a query as the investigator, with the policy's parameters and the history's
    period/as_of filled in unless given."""
    policy = policy_parameters(default_policy())

    def go(name: str, **values: Any) -> QueryResult:
        query = load_query(name)
        base = {"as_of": AS_OF, "from": PERIOD_FROM, "to": PERIOD_TO}
        merged = {k: v for k, v in base.items() if query.param(k)} | values
        return run_query(ch_investigator, name, merged, defaults=policy)

    return go


TIMELINE_A = [
    (
        t("2019-03-04 00:31"),
        "inv-002",
        "collected",
        "service",
        "web-inquiry",
        "web-inquiry",
        ["company_name", "contact_name", "phone", "email"],
        ["user_management", "contract_performance"],
        "",
        "",
        "",
        "",
        "",
        [],
    ),
    (
        t("2019-03-04 00:32"),
        "inv-003",
        "used",
        "staff",
        "agent-7",
        "support-desk",
        ["phone"],
        ["user_management"],
        "view",
        "",
        "",
        "",
        "",
        [],
    ),
    (
        t("2019-03-04 00:33"),
        "inv-004",
        "used",
        "staff",
        "agent-9",
        "support-desk",
        ["email"],
        ["user_management"],
        "view",
        "",
        "",
        "",
        "",
        ["UNAUTHORIZED_HANDLER"],
    ),
    (
        t("2019-03-04 00:34"),
        "inv-005",
        "disclosed",
        "service",
        "mailer",
        "mailer",
        ["email"],
        ["marketing"],
        "",
        "benchmark_email",
        "entrustment",
        "",
        "",
        ["MARKETING_WITHOUT_CONSENT", "PURPOSE_VIOLATION"],
    ),
    (
        t("2019-03-05 00:30"),
        "inv-102",
        "consent_given",
        "subject",
        "ps_inv_a",
        "web-inquiry",
        [],
        [],
        "",
        "",
        "",
        "",
        "marketing",
        [],
    ),
    (
        t("2019-03-05 01:30"),
        "inv-103",
        "disclosed",
        "service",
        "crm-sync",
        "crm-sync",
        ["company_name", "contact_name"],
        ["contract_performance"],
        "",
        "salesforce",
        "entrustment",
        "",
        "",
        [],
    ),
    (
        t("2019-03-06 11:00"),
        "inv-108",
        "used",
        "staff",
        "agent-7",
        "support-desk",
        ["contact_name"],
        ["user_management"],
        "download",
        "",
        "",
        "",
        "",
        [],
    ),
    (
        t("2019-03-06 12:00"),
        "inv-109",
        "disclosed",
        "service",
        "legal-desk",
        "legal-desk",
        ["phone"],
        ["legal_compliance"],
        "",
        "police_agency",
        "legal_request",
        "",
        "",
        [],
    ),
    (
        t("2019-03-07 01:30"),
        "inv-112",
        "consent_withdrawn",
        "subject",
        "ps_inv_a",
        "web-inquiry",
        [],
        [],
        "",
        "",
        "",
        "",
        "marketing",
        [],
    ),
    (
        t("2019-03-08 00:30"),
        "inv-113",
        "access_requested",
        "subject",
        "ps_inv_a",
        "support-desk",
        [],
        [],
        "",
        "",
        "",
        "acc-2",
        "",
        ["ACCESS_OVERDUE"],
    ),
    (
        t("2019-03-08 01:30"),
        "inv-114",
        "identity_verified",
        "staff",
        "agent-7",
        "support-desk",
        [],
        [],
        "",
        "",
        "",
        "acc-2",
        "",
        [],
    ),
    (
        t("2019-03-09 01:30"),
        "inv-116",
        "archived",
        "service",
        "archiver",
        "archiver",
        ["phone"],
        [],
        "",
        "",
        "",
        "",
        "",
        [],
    ),
    (
        t("2019-03-09 02:30"),
        "inv-117",
        "destroyed",
        "service",
        "archiver",
        "archiver",
        ["email"],
        [],
        "",
        "",
        "",
        "",
        "",
        [],
    ),
]

TIMELINE_B_COLUMNS = (
    "occurred_at",
    "event_id",
    "type",
    "actor_kind",
    "actor_id",
    "service",
    "items",
    "purposes",
    "operation",
    "recipient",
    "basis",
    "request_id",
    "scope",
    "alerts",
)
TIMELINE_B = [
    (
        t("2019-03-04 00:35"),
        "inv-006",
        "collected",
        "service",
        "support-desk",
        "support-desk",
        ["email", "contact_name", "user_id"],
        ["user_management", "service_improvement"],
        "",
        "",
        "",
        "",
        "",
        [],
    ),
    (
        t("2019-03-04 00:36"),
        "inv-007",
        "disclosed",
        "service",
        "support-desk",
        "support-desk",
        ["email", "user_id"],
        ["user_management"],
        "",
        "lguplus",
        "entrustment",
        "",
        "",
        [],
    ),
    (
        t("2019-03-04 00:37"),
        "inv-008",
        "correction_requested",
        "subject",
        "ps_inv_b",
        "support-desk",
        ["email"],
        [],
        "",
        "",
        "",
        "corr-1",
        "",
        [],
    ),
    (
        t("2019-03-04 00:38"),
        "inv-009",
        "used",
        "staff",
        "agent-7",
        "support-desk",
        ["email"],
        ["user_management"],
        "view",
        "",
        "",
        "",
        "",
        ["USE_DURING_CORRECTION"],
    ),
    (
        t("2019-03-04 00:39"),
        "inv-010",
        "used",
        "staff",
        "agent-7",
        "support-desk",
        ["user_id"],
        ["user_management"],
        "download",
        "",
        "",
        "",
        "",
        ["DOWNLOAD_WITHOUT_REASON"],
    ),
    (
        t("2019-03-04 00:40"),
        "inv-011",
        "corrected",
        "staff",
        "agent-7",
        "support-desk",
        [],
        [],
        "",
        "",
        "",
        "corr-1",
        "",
        [],
    ),
    (
        t("2019-03-04 00:41"),
        "inv-012",
        "access_requested",
        "subject",
        "ps_inv_b",
        "support-desk",
        [],
        [],
        "",
        "",
        "",
        "acc-1",
        "",
        [],
    ),
    (
        t("2019-03-04 00:42"),
        "inv-013",
        "access_fulfilled",
        "staff",
        "agent-7",
        "support-desk",
        [],
        [],
        "",
        "",
        "",
        "acc-1",
        "",
        ["ACCESS_UNVERIFIED"],
    ),
    (
        t("2019-03-04 00:43"),
        "inv-014",
        "disclosed",
        "service",
        "partner-gateway",
        "partner-gateway",
        ["phone"],
        ["marketing"],
        "",
        "ad_partner",
        "consent",
        "",
        "",
        ["DISCLOSURE_WITHOUT_BASIS", "MARKETING_WITHOUT_CONSENT", "NOT_COLLECTED"],
    ),
    (
        t("2019-03-05 02:30"),
        "inv-104",
        "disclosed",
        "service",
        "crm-sync",
        "crm-sync",
        ["contact_name", "email"],
        ["user_management"],
        "",
        "salesforce",
        "entrustment",
        "",
        "",
        [],
    ),
    (
        t("2019-03-05 03:30"),
        "inv-105",
        "recipient_notified",
        "staff",
        "agent-7",
        "support-desk",
        [],
        [],
        "",
        "lguplus",
        "",
        "corr-1",
        "",
        [],
    ),
    (
        t("2019-03-06 13:00"),
        "inv-110",
        "correction_requested",
        "subject",
        "ps_inv_b",
        "support-desk",
        ["contact_name"],
        [],
        "",
        "",
        "",
        "corr-2",
        "",
        [],
    ),
    (
        t("2019-03-07 00:30"),
        "inv-111",
        "corrected",
        "staff",
        "agent-7",
        "support-desk",
        [],
        [],
        "",
        "",
        "",
        "corr-2",
        "",
        ["CORRECTION_NOT_PROPAGATED"],
    ),
]

TIMELINE_C_COLUMNS = (
    "occurred_at",
    "event_id",
    "type",
    "actor_kind",
    "actor_id",
    "service",
    "items",
    "purposes",
    "operation",
    "recipient",
    "basis",
    "request_id",
    "scope",
    "alerts",
)
TIMELINE_C = [
    (
        t("2019-03-04 00:44"),
        "inv-015",
        "collected",
        "service",
        "colabox-app",
        "colabox-app",
        ["user_id", "service_usage_record"],
        ["contract_performance", "service_improvement"],
        "",
        "",
        "",
        "",
        "",
        [],
    ),
    (
        t("2019-03-04 00:45"),
        "inv-016",
        "withdrawal_requested",
        "subject",
        "ps_inv_c",
        "support-desk",
        [],
        [],
        "",
        "",
        "",
        "",
        "",
        ["DESTRUCTION_OVERDUE"],
    ),
    (
        t("2019-03-04 00:46"),
        "inv-017",
        "used",
        "service",
        "billing",
        "billing",
        ["user_id"],
        ["contract_performance"],
        "process",
        "",
        "",
        "",
        "",
        ["USE_AFTER_WITHDRAWAL"],
    ),
]

STATE_A_COLUMNS = ("aspect", "term", "detail", "since")
STATE_A = [
    ("held", "company_name", ["contract_performance", "user_management"], t("2019-03-04 00:31")),
    ("held", "contact_name", ["contract_performance", "user_management"], t("2019-03-04 00:31")),
    ("archived", "phone", ["contract_performance", "user_management"], t("2019-03-09 01:30")),
    ("destroyed", "email", [], t("2019-03-09 02:30")),
    ("received", "benchmark_email", ["email"], t("2019-03-04 00:34")),
    ("received", "police_agency", ["phone"], t("2019-03-06 12:00")),
    ("received", "salesforce", ["company_name", "contact_name"], t("2019-03-05 01:30")),
    ("open_access", "acc-2", [], t("2019-03-08 00:30")),
]

STATE_B_COLUMNS = ("aspect", "term", "detail", "since")
STATE_B = [
    ("held", "contact_name", ["service_improvement", "user_management"], t("2019-03-04 00:35")),
    ("held", "email", ["service_improvement", "user_management"], t("2019-03-04 00:35")),
    ("held", "user_id", ["service_improvement", "user_management"], t("2019-03-04 00:35")),
    ("received", "ad_partner", ["phone"], t("2019-03-04 00:43")),
    ("received", "lguplus", ["email", "user_id"], t("2019-03-04 00:36")),
    ("received", "salesforce", ["contact_name", "email"], t("2019-03-05 02:30")),
]

STATE_C_COLUMNS = ("aspect", "term", "detail", "since")
STATE_C = [
    (
        "held",
        "service_usage_record",
        ["contract_performance", "service_improvement"],
        t("2019-03-04 00:44"),
    ),
    ("held", "user_id", ["contract_performance", "service_improvement"], t("2019-03-04 00:44")),
    ("withdrawal", "", [], t("2019-03-04 00:45")),
]

ACCESS_B_COLUMNS = (
    "section",
    "occurred_at",
    "event_id",
    "type",
    "items",
    "purposes",
    "party",
    "detail",
    "legal_reference",
    "log_topic",
    "log_partition",
    "leaf_index",
    "leaf_hash",
)
ACCESS_B = [
    (
        "collection",
        t("2019-03-04 00:35"),
        "inv-006",
        "collected",
        ["email", "contact_name", "user_id"],
        ["user_management", "service_improvement"],
        "service:support-desk",
        "tech_support",
        "",
        "privtrail.test.investigations",
        0,
        7,
        "e23d7a2df846ffd52284e7eb41e98bdb98faf606ba9665b991decd34960a6540",
    ),
    (
        "use",
        t("2019-03-04 00:38"),
        "inv-009",
        "used",
        ["email"],
        ["user_management"],
        "staff:support_agent",
        "view",
        "",
        "privtrail.test.investigations",
        0,
        10,
        "ce37c30e1ef241c3dfaf6f4a46b674817f1ebf82308fbef81d5a75fbce374ae7",
    ),
    (
        "use",
        t("2019-03-04 00:39"),
        "inv-010",
        "used",
        ["user_id"],
        ["user_management"],
        "staff:support_agent",
        "download",
        "",
        "privtrail.test.investigations",
        0,
        11,
        "1785733f545864e7169b98605e6ac7f8775600cde4bc79dcfc6f5f9c5ecc5605",
    ),
    (
        "provision",
        t("2019-03-04 00:36"),
        "inv-007",
        "disclosed",
        ["email", "user_id"],
        ["user_management"],
        "lguplus",
        "entrustment",
        "",
        "privtrail.test.investigations",
        0,
        8,
        "a99bbe16f5e2d523e79ef9765a6a14d200312ab233d698f75c64da86f7228557",
    ),
    (
        "provision",
        t("2019-03-04 00:43"),
        "inv-014",
        "disclosed",
        ["phone"],
        ["marketing"],
        "ad_partner",
        "consent",
        "",
        "privtrail.test.investigations",
        0,
        15,
        "ff341b978460b668822d6164382043cc5bf74225f17ac72e74393a5f45a90820",
    ),
    (
        "provision",
        t("2019-03-05 02:30"),
        "inv-104",
        "disclosed",
        ["contact_name", "email"],
        ["user_management"],
        "salesforce",
        "entrustment",
        "",
        "privtrail.test.investigations",
        0,
        22,
        "6cd54bf186269bb3e9488cb94da8db52fe175c5e86b7288bde17755409ca230e",
    ),
    (
        "request",
        t("2019-03-04 00:37"),
        "inv-008",
        "correction_requested",
        ["email"],
        [],
        "subject:ps_inv_b",
        "corr-1",
        "",
        "privtrail.test.investigations",
        0,
        9,
        "50ae9465485941ba093cf377aca820f957b5e64059392a54b694d446807fe3e4",
    ),
    (
        "request",
        t("2019-03-04 00:40"),
        "inv-011",
        "corrected",
        [],
        [],
        "staff:support_agent",
        "corr-1",
        "",
        "privtrail.test.investigations",
        0,
        12,
        "0e0b17cb8d28eeafb18d518901bd2749027fde5417f89c7075d02188dc1c0b87",
    ),
    (
        "request",
        t("2019-03-04 00:41"),
        "inv-012",
        "access_requested",
        [],
        [],
        "subject:ps_inv_b",
        "acc-1",
        "",
        "privtrail.test.investigations",
        0,
        13,
        "4f8db9b7dfed7f5652686b59ae990180420aa03581d7d22c0a4090aa18ef5f9b",
    ),
    (
        "request",
        t("2019-03-04 00:42"),
        "inv-013",
        "access_fulfilled",
        [],
        [],
        "staff:support_agent",
        "acc-1",
        "",
        "privtrail.test.investigations",
        0,
        14,
        "e16a0749ba2729ccb641225bf1b7c04815147ddc94be84860274e17dd9240714",
    ),
    (
        "request",
        t("2019-03-05 03:30"),
        "inv-105",
        "recipient_notified",
        [],
        [],
        "staff:support_agent",
        "corr-1",
        "",
        "privtrail.test.investigations",
        0,
        23,
        "618e40a15bc4de1866bf4bfb6c96d628e35e455dd41c4bd073bd6d50a2e92f6e",
    ),
    (
        "request",
        t("2019-03-06 13:00"),
        "inv-110",
        "correction_requested",
        ["contact_name"],
        [],
        "subject:ps_inv_b",
        "corr-2",
        "",
        "privtrail.test.investigations",
        0,
        28,
        "25b558741e175750d31e58ce2ca81a42aef9fa7fd1a2ee5673875e708451625c",
    ),
    (
        "request",
        t("2019-03-07 00:30"),
        "inv-111",
        "corrected",
        [],
        [],
        "staff:support_agent",
        "corr-2",
        "",
        "privtrail.test.investigations",
        0,
        29,
        "f76f88d19792ac7f1953a5c174c489c61ba68e83c810020d7a0a62bc3758424d",
    ),
]

DISCLOSURES_COLUMNS = (
    "recipient_kind",
    "recipient",
    "basis",
    "disclosures",
    "subjects",
    "items",
    "purposes",
    "legal_references",
    "first_at",
    "last_at",
)
DISCLOSURES = [
    (
        "processor",
        "benchmark_email",
        "entrustment",
        1,
        1,
        ["email"],
        ["marketing"],
        [],
        t("2019-03-04 00:34"),
        t("2019-03-04 00:34"),
    ),
    (
        "processor",
        "google_analytics",
        "entrustment",
        1,
        1,
        ["analytics_cookie"],
        ["service_improvement"],
        [],
        t("2019-03-05 05:30"),
        t("2019-03-05 05:30"),
    ),
    (
        "processor",
        "lguplus",
        "entrustment",
        1,
        1,
        ["email", "user_id"],
        ["user_management"],
        [],
        t("2019-03-04 00:36"),
        t("2019-03-04 00:36"),
    ),
    (
        "processor",
        "salesforce",
        "entrustment",
        2,
        2,
        ["company_name", "contact_name", "email"],
        ["contract_performance", "user_management"],
        [],
        t("2019-03-05 01:30"),
        t("2019-03-05 02:30"),
    ),
    (
        "third_party",
        "ad_partner",
        "consent",
        1,
        1,
        ["phone"],
        ["marketing"],
        [],
        t("2019-03-04 00:43"),
        t("2019-03-04 00:43"),
    ),
    (
        "third_party",
        "police_agency",
        "legal_request",
        1,
        1,
        ["phone"],
        ["legal_compliance"],
        ["warrant-2019-031"],
        t("2019-03-06 12:00"),
        t("2019-03-06 12:00"),
    ),
]

VIOLATIONS_COLUMNS = (
    "rule",
    "severity",
    "service",
    "actor_id",
    "deadline",
    "alerts",
    "subjects",
    "first_at",
    "last_at",
    "event_ids",
)
VIOLATIONS = [
    (
        "ACCESS_OVERDUE",
        "high",
        "support-desk",
        "",
        "open",
        1,
        1,
        t("2019-03-08 00:30"),
        t("2019-03-08 00:30"),
        ["inv-113"],
    ),
    (
        "ACCESS_UNVERIFIED",
        "high",
        "support-desk",
        "agent-7",
        "n/a",
        1,
        1,
        t("2019-03-04 00:42"),
        t("2019-03-04 00:42"),
        ["inv-013"],
    ),
    (
        "CORRECTION_NOT_PROPAGATED",
        "high",
        "support-desk",
        "agent-7",
        "open",
        1,
        1,
        t("2019-03-07 00:30"),
        t("2019-03-07 00:30"),
        ["inv-111"],
    ),
    (
        "DESTRUCTION_OVERDUE",
        "high",
        "colabox-app",
        "",
        "open",
        1,
        1,
        t("2018-11-15 02:00"),
        t("2018-11-15 02:00"),
        ["inv-119"],
    ),
    (
        "DESTRUCTION_OVERDUE",
        "high",
        "colabox-app",
        "",
        "resolved",
        1,
        1,
        t("2018-10-01 01:00"),
        t("2018-10-01 01:00"),
        ["inv-101"],
    ),
    (
        "DESTRUCTION_OVERDUE",
        "high",
        "support-desk",
        "",
        "open",
        1,
        1,
        t("2019-03-04 00:45"),
        t("2019-03-04 00:45"),
        ["inv-016"],
    ),
    (
        "DISCLOSURE_WITHOUT_BASIS",
        "critical",
        "partner-gateway",
        "",
        "n/a",
        1,
        1,
        t("2019-03-04 00:43"),
        t("2019-03-04 00:43"),
        ["inv-014"],
    ),
    (
        "DOWNLOAD_WITHOUT_REASON",
        "medium",
        "support-desk",
        "agent-7",
        "n/a",
        1,
        1,
        t("2019-03-04 00:39"),
        t("2019-03-04 00:39"),
        ["inv-010"],
    ),
    (
        "MARKETING_WITHOUT_CONSENT",
        "high",
        "mailer",
        "",
        "n/a",
        1,
        1,
        t("2019-03-04 00:34"),
        t("2019-03-04 00:34"),
        ["inv-005"],
    ),
    (
        "MARKETING_WITHOUT_CONSENT",
        "high",
        "partner-gateway",
        "",
        "n/a",
        1,
        1,
        t("2019-03-04 00:43"),
        t("2019-03-04 00:43"),
        ["inv-014"],
    ),
    (
        "NOTICE_PERIOD_SHORT",
        "medium",
        "admin-console",
        "privacy-officer-1",
        "n/a",
        1,
        0,
        t("2019-03-04 00:47"),
        t("2019-03-04 00:47"),
        ["inv-018"],
    ),
    (
        "NOT_COLLECTED",
        "high",
        "partner-gateway",
        "",
        "n/a",
        1,
        1,
        t("2019-03-04 00:43"),
        t("2019-03-04 00:43"),
        ["inv-014"],
    ),
    (
        "PURPOSE_VIOLATION",
        "high",
        "mailer",
        "",
        "n/a",
        1,
        1,
        t("2019-03-04 00:34"),
        t("2019-03-04 00:34"),
        ["inv-005"],
    ),
    (
        "UNAUTHORIZED_HANDLER",
        "high",
        "support-desk",
        "agent-9",
        "n/a",
        1,
        1,
        t("2019-03-04 00:33"),
        t("2019-03-04 00:33"),
        ["inv-004"],
    ),
    (
        "UNKNOWN_TERM",
        "medium",
        "web",
        "",
        "n/a",
        1,
        1,
        t("2019-03-11 00:30"),
        t("2019-03-11 00:30"),
        ["inv-120"],
    ),
    (
        "USE_AFTER_WITHDRAWAL",
        "high",
        "billing",
        "",
        "n/a",
        1,
        1,
        t("2019-03-04 00:46"),
        t("2019-03-04 00:46"),
        ["inv-017"],
    ),
    (
        "USE_DURING_CORRECTION",
        "medium",
        "support-desk",
        "agent-7",
        "n/a",
        1,
        1,
        t("2019-03-04 00:38"),
        t("2019-03-04 00:38"),
        ["inv-009"],
    ),
]

DEADLINES_COLUMNS = (
    "duty",
    "subject_id",
    "ref",
    "recipient",
    "started_at",
    "due_at",
    "days_left",
    "status",
)
DEADLINES = [
    (
        "destroy_after_retention",
        "ps_inv_e",
        "web_visit_record",
        "",
        t("2018-11-15 02:00"),
        t("2019-02-20 02:00"),
        -27,
        "overdue",
    ),
    (
        "destroy_after_withdrawal",
        "ps_inv_c",
        "user_id",
        "",
        t("2019-03-04 00:45"),
        t("2019-03-09 00:45"),
        -10,
        "overdue",
    ),
    (
        "notify",
        "ps_inv_b",
        "corr-2",
        "salesforce",
        t("2019-03-07 00:30"),
        t("2019-03-17 00:30"),
        -2,
        "overdue",
    ),
    (
        "access",
        "ps_inv_a",
        "acc-2",
        "",
        t("2019-03-08 00:30"),
        t("2019-03-18 00:30"),
        -1,
        "overdue",
    ),
]

ACCESS_REVIEW_COLUMNS = (
    "actor_id",
    "roles",
    "events",
    "subjects",
    "downloads",
    "downloads_without_reason",
    "download_reasons",
    "after_hours",
    "weekend",
    "unauthorized",
    "first_at",
    "last_at",
)
ACCESS_REVIEW = [
    (
        "agent-7",
        ["support_agent"],
        10,
        3,
        2,
        1,
        ["ticket-42"],
        1,
        1,
        0,
        t("2019-03-04 00:32"),
        t("2019-03-09 00:30"),
    ),
    (
        "agent-9",
        ["support_agent"],
        1,
        1,
        0,
        0,
        [],
        0,
        0,
        1,
        t("2019-03-04 00:33"),
        t("2019-03-04 00:33"),
    ),
]

CORRECTIONS_COLUMNS = (
    "subject_id",
    "request_id",
    "corrected_items",
    "requested_at",
    "corrected_at",
    "recipient",
    "items_received",
    "received_at",
    "notified_at",
    "status",
)
CORRECTIONS = [
    (
        "ps_inv_b",
        "corr-1",
        ["email"],
        t("2019-03-04 00:37"),
        t("2019-03-04 00:40"),
        "lguplus",
        ["email"],
        t("2019-03-04 00:36"),
        t("2019-03-05 03:30"),
        "notified",
    ),
    (
        "ps_inv_b",
        "corr-2",
        ["contact_name"],
        t("2019-03-06 13:00"),
        t("2019-03-07 00:30"),
        "salesforce",
        ["contact_name"],
        t("2019-03-05 02:30"),
        None,
        "overdue",
    ),
]

REGISTER_COLUMNS = (
    "purpose",
    "declared",
    "subjects",
    "contexts",
    "items",
    "undeclared_items",
    "recipients",
    "recipients_not_entrusted",
    "held_days_max",
    "items_kept_too_long",
)
REGISTER = [
    ("ad_profiling", 0, 1, [], ["analytics_cookie"], ["analytics_cookie"], [], [], None, []),
    (
        "contract_performance",
        1,
        3,
        ["product_inquiry", "service_use"],
        [
            "company_name",
            "contact_name",
            "contract_record",
            "email",
            "payment_record",
            "phone",
            "service_usage_record",
            "user_id",
            "web_visit_record",
        ],
        [],
        ["salesforce"],
        [],
        182,
        ["web_visit_record"],
    ),
    (
        "legal_compliance",
        1,
        3,
        ["service_use"],
        ["contract_record", "payment_record", "phone", "web_visit_record"],
        ["phone"],
        ["police_agency"],
        ["police_agency"],
        182,
        ["web_visit_record"],
    ),
    (
        "marketing",
        1,
        2,
        [],
        ["email", "phone"],
        [],
        ["ad_partner", "benchmark_email"],
        ["ad_partner"],
        None,
        [],
    ),
    (
        "service_improvement",
        1,
        3,
        ["analytics", "service_use", "tech_support"],
        ["analytics_cookie", "contact_name", "email", "service_usage_record", "user_id"],
        [],
        ["google_analytics"],
        [],
        28,
        [],
    ),
    (
        "user_management",
        1,
        2,
        ["product_inquiry", "tech_support"],
        ["company_name", "contact_name", "email", "phone", "user_id"],
        [],
        ["lguplus", "salesforce"],
        [],
        28,
        [],
    ),
]

RETENTION_COLUMNS = (
    "item",
    "retention_months",
    "records",
    "held",
    "destroyed",
    "oldest_held_since",
    "age_days_max",
    "due",
    "overdue",
    "destroyed_late",
    "kept_days_max",
)
RETENTION = [
    ("analytics_cookie", 0, 1, 1, 0, t("2019-03-05 04:30"), 14, 0, 0, 0, None),
    ("company_name", 0, 1, 1, 0, t("2019-03-04 00:31"), 15, 0, 0, 0, None),
    ("contact_name", 0, 2, 2, 0, t("2019-03-04 00:31"), 15, 0, 0, 0, None),
    ("contract_record", 60, 1, 1, 0, t("2018-10-01 01:00"), 169, 0, 0, 0, None),
    ("email", 0, 2, 1, 1, t("2019-03-04 00:35"), 15, 0, 0, 0, 5),
    ("payment_record", 60, 1, 1, 0, t("2018-10-01 01:00"), 169, 0, 0, 0, None),
    ("phone", 0, 1, 1, 0, t("2019-03-04 00:31"), 15, 0, 0, 0, None),
    ("service_usage_record", 12, 1, 1, 0, t("2019-03-04 00:44"), 15, 0, 0, 0, None),
    ("user_id", 0, 2, 2, 0, t("2019-03-04 00:35"), 15, 0, 0, 0, None),
    ("web_visit_record", 3, 2, 1, 1, t("2018-11-15 02:00"), 124, 0, 1, 1, 160),
]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("ps_inv_a", TIMELINE_A), ("ps_inv_b", TIMELINE_B), ("ps_inv_c", TIMELINE_C)],
)
def test_subject_timeline(run: Callable[..., QueryResult], subject: str, expected: Any) -> None:
    result = run("subject_timeline", subject=subject)
    assert result.columns == TIMELINE_B_COLUMNS
    assert result.rows == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("ps_inv_a", STATE_A), ("ps_inv_b", STATE_B), ("ps_inv_c", STATE_C)],
)
def test_subject_state_as_of(run: Callable[..., QueryResult], subject: str, expected: Any) -> None:
    result = run("subject_state_as_of", subject=subject)
    assert result.columns == STATE_A_COLUMNS
    assert result.rows == expected


def test_subject_state_earlier_instant_is_the_fold_up_to_it(
    run: Callable[..., QueryResult],
) -> None:
    # Before the archive, the destruction and the withdrawal of consent.
    result = run("subject_state_as_of", subject="ps_inv_a", as_of=t("2019-03-05 01:00"))
    assert result.rows == [
        (
            "held",
            "company_name",
            ["contract_performance", "user_management"],
            t("2019-03-04 00:31"),
        ),
        (
            "held",
            "contact_name",
            ["contract_performance", "user_management"],
            t("2019-03-04 00:31"),
        ),
        ("held", "email", ["contract_performance", "user_management"], t("2019-03-04 00:31")),
        ("held", "phone", ["contract_performance", "user_management"], t("2019-03-04 00:31")),
        ("consent", "marketing", [], t("2019-03-05 00:30")),
        ("received", "benchmark_email", ["email"], t("2019-03-04 00:34")),
    ]


def test_subject_state_before_anything_is_empty(run: Callable[..., QueryResult]) -> None:
    assert run("subject_state_as_of", subject="ps_inv_a", as_of=t("2019-03-04 00:00")).rows == []


def test_access_report(run: Callable[..., QueryResult], history: LoadedHistory) -> None:
    result = run("access_report", subject="ps_inv_b")
    assert result.columns == ACCESS_B_COLUMNS
    assert result.rows == ACCESS_B
    # The cited coordinates are the loader's: leaf index and hash of each event.
    by_id = {e["event_id"]: i for i, e in enumerate(history.events)}
    for row in result.dicts():
        assert row["leaf_hash"] == history.leaf_hashes[by_id[row["event_id"]]].hex()


def test_disclosures(run: Callable[..., QueryResult]) -> None:
    result = run("disclosures")
    assert result.columns == DISCLOSURES_COLUMNS
    assert result.rows == DISCLOSURES


def test_disclosures_processor_list_comes_from_the_parameter(
    run: Callable[..., QueryResult],
) -> None:
    rows = run("disclosures", processors=["ad_partner"]).rows
    assert [(r[0], r[1]) for r in rows] == [
        ("processor", "ad_partner"),
        ("third_party", "benchmark_email"),
        ("third_party", "google_analytics"),
        ("third_party", "lguplus"),
        ("third_party", "police_agency"),
        ("third_party", "salesforce"),
    ]


def test_violations(run: Callable[..., QueryResult]) -> None:
    result = run("violations")
    assert result.columns == VIOLATIONS_COLUMNS
    assert result.rows == VIOLATIONS


def test_violations_judged_before_the_late_destruction_is_open(
    run: Callable[..., QueryResult],
) -> None:
    rows = run("violations", as_of=t("2019-03-09 00:00")).dicts()
    late = [(r["deadline"], r["event_ids"]) for r in rows if "inv-101" in r["event_ids"]]
    # Both colabox-app destruction alerts are still open, so they fall into one group.
    assert late == [("open", ["inv-101", "inv-119"])]


def test_deadlines(run: Callable[..., QueryResult]) -> None:
    result = run("deadlines")
    assert result.columns == DEADLINES_COLUMNS
    assert result.rows == DEADLINES


def test_deadlines_days_left_before_due(run: Callable[..., QueryResult]) -> None:
    rows = run("deadlines", as_of=t("2019-03-10 00:30")).rows
    assert [(r[0], r[1], r[2], r[3], r[6], r[7]) for r in rows] == [
        ("destroy_after_retention", "ps_inv_e", "web_visit_record", "", -18, "overdue"),
        ("destroy_after_withdrawal", "ps_inv_c", "user_id", "", -1, "overdue"),
        ("notify", "ps_inv_b", "corr-2", "salesforce", 7, "open"),
        ("access", "ps_inv_a", "acc-2", "", 8, "open"),
    ]


def test_access_review(run: Callable[..., QueryResult]) -> None:
    result = run("access_review")
    assert result.columns == ACCESS_REVIEW_COLUMNS
    assert result.rows == ACCESS_REVIEW


def test_correction_propagation(run: Callable[..., QueryResult]) -> None:
    result = run("correction_propagation")
    assert result.columns == CORRECTIONS_COLUMNS
    assert result.rows == CORRECTIONS


def test_processing_register(run: Callable[..., QueryResult]) -> None:
    result = run("processing_register")
    assert result.columns == REGISTER_COLUMNS
    assert result.rows == REGISTER


def test_retention_status(run: Callable[..., QueryResult]) -> None:
    result = run("retention_status")
    assert result.columns == RETENTION_COLUMNS
    assert result.rows == RETENTION


def test_every_query_is_tested_here() -> None:
    tested = {
        "subject_timeline", "subject_state_as_of", "access_report", "disclosures", "violations",
        "deadlines", "access_review", "correction_propagation", "processing_register",
        "retention_status",
    }  # fmt: skip
    assert {q.name for q in list_queries()} == tested


@pytest.mark.parametrize("name", [q.name for q in list_queries()])
def test_every_query_explains_on_the_server(
    name: str, history: LoadedHistory, ch_investigator: Any
) -> None:
    from privtrail.queries import bind

    query = load_query(name)
    values = {"subject": "ps_inv_a", "as_of": AS_OF, "from": PERIOD_FROM, "to": PERIOD_TO}
    params = bind(
        query,
        {k: v for k, v in values.items() if query.param(k)},
        policy_parameters(default_policy()),
    )
    plan = ch_investigator.query("EXPLAIN " + query.sql, parameters=params)
    assert plan.result_rows


HOSTILE = [
    "'; DROP TABLE privtrail.events; --",
    "ps_inv_a' OR '1'='1",
    'ps_inv_a" OR "1"="1',
    "ps_inv_a\\'; SELECT 1; --",
    "{subject:String}",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_subject_is_data(
    run: Callable[..., QueryResult], ch_admin: Any, value: str
) -> None:
    before = ch_admin.query("SELECT count() FROM privtrail.events").result_rows[0][0]
    assert run("subject_timeline", subject=value).rows == []
    assert run("subject_state_as_of", subject=value).rows == []
    assert ch_admin.command("EXISTS TABLE privtrail.events") == 1
    assert ch_admin.query("SELECT count() FROM privtrail.events").result_rows[0][0] == before


def test_hostile_array_element_is_data(run: Callable[..., QueryResult]) -> None:
    rows = run("disclosures", processors=["'); DROP TABLE privtrail.events; --"]).rows
    assert {r[0] for r in rows} == {"third_party"}


def test_investigator_cannot_insert(history: LoadedHistory, ch_investigator: Any) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    with pytest.raises(DatabaseError) as err:
        ch_investigator.command(
            "INSERT INTO privtrail.alerts (alert_id, rule) VALUES ('x', 'TAMPER')"
        )
    assert "readonly" in str(err.value).lower() or "not enough privileges" in str(err.value).lower()
    assert ch_investigator.query("SELECT currentUser()").result_rows == [("investigator",)]
