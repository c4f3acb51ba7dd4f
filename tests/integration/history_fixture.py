"""A scripted COLABOX history for the investigation tests, and its loader.

The history is :func:`privtrail.scenario.colabox_scenario` (the support-desk week) plus the
events the investigations need and the scenario lacks: consents, a lawful request, a late
download, a second correction nobody propagated, archive and destruction, an old
service-use record past its retention, a weekend access and an analytics cookie.

It lives in its own corner of the shared database so other tests cannot disturb its exact
rows: its own pseudonyms (``ps_inv_*``), ids (``inv-*``), log topic, and a clock anchored
in March 2019. The alerts are scripted (what the rules of issue 3 raise on these events)
because the rule engine is not a dependency of the investigations.

The loader applies the DDL through ``privtrail.sinks.migrate`` (the same files the sink
uses), builds rows with ``privtrail.sinks.rows`` and hashes leaves with ``privtrail.tlog``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from privtrail.alerts import Alert
from privtrail.events import format_timestamp, parse_event
from privtrail.scenario import colabox_scenario, scenario_subjects
from privtrail.sinks.migrate import migrate
from privtrail.sinks.rows import (
    ALERT_COLUMNS,
    EVENT_COLUMNS,
    alert_row,
    fresh_log_rows,
)
from privtrail.tlog import Checkpoint, MerkleTree, NoteSigner, sign_checkpoint

START = datetime(2019, 3, 4, 0, 30, tzinfo=UTC)  # Monday 09:30 KST
AS_OF = START + timedelta(days=15)  # acc-2 one day overdue, corr-2 notice overdue
PERIOD_FROM = datetime(2018, 9, 1, tzinfo=UTC)
PERIOD_TO = datetime(2019, 4, 1, tzinfo=UTC)
TOPIC = "privtrail.test.investigations"
ORIGIN = "privtrail.test/investigations/0"
POLICY_VERSION = "2020-08-26"
_LEAF_HASH = EVENT_COLUMNS.index("leaf_hash")
# A throwaway key for this test log only (not a secret: it signs nothing real). Fixed, so a
# second load into the same server finds the same checkpoint.
SIGNER_KEY = "PRIVATE+KEY+privtrail.test+ea707021+AYtZAXplM3qLXKSeNOoUXBBXxDnisxQUftw3Bn72v1of"
VERIFIER_KEY = "privtrail.test+ea707021+Ac/+G+4v/bN0xfUFkcnLnLuvVXp47SDOyK3VzfQqs9G9"

A, B, C = scenario_subjects("inv")
D, E = "ps_inv_d", "ps_inv_e"
AGENT, INTRUDER, OFFICER = "agent-7", "agent-9", "privacy-officer-1"


def _at(days: float = 0, hours: float = 0) -> str:
    return format_timestamp(START + timedelta(days=days, hours=hours))


def _extras() -> list[dict[str, Any]]:
    agent = {"kind": "staff", "id": AGENT, "role": "support_agent", "ip": "10.0.0.7"}
    rows: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
        # Subject D: an old service-use record; web_visit_record (P3M) is long past due.
        (
            format_timestamp(datetime(2018, 10, 1, 1, 0, tzinfo=UTC)),
            "colabox-app",
            {
                "type": "collected",
                "subject_id": D,
                "context": "service_use",
                "method": "service_use",
                "items": ["web_visit_record", "contract_record", "payment_record"],
                "purposes": ["contract_performance", "legal_compliance"],
            },
            None,
        ),
        (
            _at(1),
            "web-inquiry",
            {"type": "consent_given", "subject_id": A, "scope": "marketing"},
            {"kind": "subject", "id": A},
        ),
        (
            _at(1, 1),
            "crm-sync",
            {
                "type": "disclosed",
                "subject_id": A,
                "items": ["company_name", "contact_name"],
                "recipient": "salesforce",
                "purpose": "contract_performance",
                "basis": "entrustment",
            },
            None,
        ),
        (
            _at(1, 2),
            "crm-sync",
            {
                "type": "disclosed",
                "subject_id": B,
                "items": ["contact_name", "email"],
                "recipient": "salesforce",
                "purpose": "user_management",
                "basis": "entrustment",
            },
            None,
        ),
        (
            _at(1, 3),
            "support-desk",
            {
                "type": "recipient_notified",
                "subject_id": B,
                "request_id": "corr-1",
                "recipient": "lguplus",
            },
            agent,
        ),
        (
            _at(1, 4),
            "web",
            {
                "type": "collected",
                "subject_id": E,
                "context": "analytics",
                "method": "cookie",
                "items": ["analytics_cookie"],
                "purposes": ["service_improvement"],
            },
            None,
        ),
        (
            _at(1, 5),
            "web",
            {
                "type": "disclosed",
                "subject_id": E,
                "items": ["analytics_cookie"],
                "recipient": "google_analytics",
                "purpose": "service_improvement",
                "basis": "entrustment",
            },
            None,
        ),
        # Wednesday 20:00 KST: a download after working hours, with its reason.
        (
            _at(2, 10.5),
            "support-desk",
            {
                "type": "used",
                "subject_id": A,
                "items": ["contact_name"],
                "purpose": "user_management",
                "operation": "download",
                "reason": "ticket-42",
            },
            agent,
        ),
        (
            _at(2, 11.5),
            "legal-desk",
            {
                "type": "disclosed",
                "subject_id": A,
                "items": ["phone"],
                "recipient": "police_agency",
                "purpose": "legal_compliance",
                "basis": "legal_request",
                "legal_reference": "warrant-2019-031",
            },
            None,
        ),
        (
            _at(2, 12.5),
            "support-desk",
            {
                "type": "correction_requested",
                "subject_id": B,
                "request_id": "corr-2",
                "items": ["contact_name"],
            },
            {"kind": "subject", "id": B},
        ),
        (
            _at(3),
            "support-desk",
            {"type": "corrected", "subject_id": B, "request_id": "corr-2"},
            agent,
        ),
        (
            _at(3, 1),
            "web-inquiry",
            {"type": "consent_withdrawn", "subject_id": A, "scope": "marketing"},
            {"kind": "subject", "id": A},
        ),
        (
            _at(4),
            "support-desk",
            {
                "type": "access_requested",
                "subject_id": A,
                "request_id": "acc-2",
                "channel": "board",
            },
            {"kind": "subject", "id": A},
        ),
        (
            _at(4, 1),
            "support-desk",
            {
                "type": "identity_verified",
                "subject_id": A,
                "request_id": "acc-2",
                "verified_as": "self",
            },
            agent,
        ),
        # Saturday 09:30 KST: weekend access.
        (
            _at(5),
            "support-desk",
            {
                "type": "used",
                "subject_id": D,
                "items": ["contract_record"],
                "purpose": "contract_performance",
                "operation": "view",
            },
            agent,
        ),
        (_at(5, 1), "archiver", {"type": "archived", "subject_id": A, "items": ["phone"]}, None),
        (
            _at(5, 2),
            "archiver",
            {
                "type": "destroyed",
                "subject_id": A,
                "items": ["email"],
                "method": "irrecoverable_delete",
                "reason": "purpose_fulfilled",
            },
            None,
        ),
        # D's web_visit_record destroyed two months late; E's is still held, overdue.
        (
            _at(6),
            "archiver",
            {
                "type": "destroyed",
                "subject_id": D,
                "items": ["web_visit_record"],
                "method": "irrecoverable_delete",
                "reason": "retention_expired",
            },
            None,
        ),
        (
            format_timestamp(datetime(2018, 11, 15, 2, 0, tzinfo=UTC)),
            "colabox-app",
            {
                "type": "collected",
                "subject_id": E,
                "context": "service_use",
                "method": "service_use",
                "items": ["web_visit_record"],
                "purposes": ["legal_compliance"],
            },
            None,
        ),
        # A purpose the policy never declares (UNKNOWN_TERM): the register shows it.
        (
            _at(7),
            "web",
            {
                "type": "used",
                "subject_id": E,
                "items": ["analytics_cookie"],
                "purpose": "ad_profiling",
                "operation": "process",
            },
            None,
        ),
    ]
    out = []
    for n, (when, service, body, actor) in enumerate(rows, start=101):
        out.append(
            {
                "event_id": f"inv-{n}",
                "occurred_at": when,
                "source": {"service": service},
                "actor": actor or {"kind": "service", "id": service},
                **body,
            }
        )
    return out


def colabox_history() -> list[dict[str, Any]]:
    """Every event of the history in JSON form, in time order."""
    scenario = colabox_scenario(START, prefix="inv")
    return sorted(scenario + _extras(), key=lambda e: (e["occurred_at"], e["event_id"]))


def _alert(rule: str, event: dict[str, Any], severity: str, **evidence: Any) -> Alert:
    actor = event["actor"]
    return Alert(
        rule=rule,
        event_id=event["event_id"],
        subject_id=event.get("subject_id"),
        severity=severity,  # type: ignore[arg-type]
        message=f"{rule} on {event['event_id']}",
        occurred_at=datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")),
        policy_version=POLICY_VERSION,
        actor_id=actor["id"] if actor["kind"] == "staff" else None,
        evidence=evidence,
    )


def scripted_alerts(events: list[dict[str, Any]]) -> list[Alert]:
    """What the rules of issue 3 raise on :func:`colabox_history`, judged at :data:`AS_OF`."""
    by_id = {e["event_id"]: e for e in events}
    plan: list[tuple[str, str, str, dict[str, Any]]] = [
        ("UNAUTHORIZED_HANDLER", "inv-004", "high", {}),
        ("PURPOSE_VIOLATION", "inv-005", "high", {}),
        ("MARKETING_WITHOUT_CONSENT", "inv-005", "high", {}),
        ("USE_DURING_CORRECTION", "inv-009", "medium", {}),
        ("DOWNLOAD_WITHOUT_REASON", "inv-010", "medium", {}),
        ("ACCESS_UNVERIFIED", "inv-013", "high", {}),
        ("NOT_COLLECTED", "inv-014", "high", {}),
        ("MARKETING_WITHOUT_CONSENT", "inv-014", "high", {}),
        ("DISCLOSURE_WITHOUT_BASIS", "inv-014", "critical", {}),
        ("DESTRUCTION_OVERDUE", "inv-016", "high", {"items": ["user_id"]}),
        ("USE_AFTER_WITHDRAWAL", "inv-017", "high", {}),
        ("NOTICE_PERIOD_SHORT", "inv-018", "medium", {}),
        ("DESTRUCTION_OVERDUE", "inv-101", "high", {"items": ["web_visit_record"]}),
        ("CORRECTION_NOT_PROPAGATED", "inv-111", "high", {"recipient": "salesforce"}),
        ("DESTRUCTION_OVERDUE", "inv-119", "high", {"items": ["web_visit_record"]}),
        ("ACCESS_OVERDUE", "inv-113", "high", {}),
        ("UNKNOWN_TERM", "inv-120", "medium", {"terms": ["ad_profiling"]}),
    ]
    return [_alert(rule, by_id[eid], sev, **ev) for rule, eid, sev, ev in plan]


@dataclass(frozen=True)
class LoadedHistory:
    events: list[dict[str, Any]]
    alerts: list[Alert]
    leaf_hashes: list[bytes]
    checkpoint_note: bytes
    verifier_key: str


def _already_loaded(client: Any) -> bool:
    result = client.query(
        "SELECT count() FROM privtrail.events WHERE log_topic = {t:String}", parameters={"t": TOPIC}
    )
    return int(result.result_rows[0][0]) > 0


def load_history(admin: Any, writer: Any) -> LoadedHistory:
    """Migrate with the sink's DDL, then insert the history, its alerts and a checkpoint.

    Idempotent: a second call into the same server finds the topic loaded, inserts nothing
    and returns the same data (the signing key is fixed, so the checkpoint is the same).
    """
    migrate(admin)
    events = colabox_history()
    alerts = scripted_alerts(events)
    loaded_at = START + timedelta(days=30)
    rows = fresh_log_rows((parse_event(doc) for doc in events), topic=TOPIC, ingested_at=loaded_at)
    hashes = [row[_LEAF_HASH] for row in rows]
    signer = NoteSigner.from_key_string(SIGNER_KEY)
    tree = MerkleTree.from_leaf_hashes(hashes)
    checkpoint = Checkpoint(ORIGIN, tree.size, tree.root())
    note = sign_checkpoint(checkpoint, signer)
    result = LoadedHistory(events, alerts, hashes, note, VERIFIER_KEY)
    if _already_loaded(writer):
        return result
    writer.insert("privtrail.events", rows, column_names=list(EVENT_COLUMNS))
    writer.insert(
        "privtrail.alerts",
        [
            alert_row(
                a,
                topic="privacy.alerts",
                partition=0,
                offset=i,
                raised_at=a.occurred_at,
                ingested_at=loaded_at,
            )
            for i, a in enumerate(alerts)
        ],
        column_names=list(ALERT_COLUMNS),
    )
    writer.insert(
        "privtrail.checkpoints",
        [[ORIGIN, TOPIC, 0, tree.size, tree.root(), note.decode(), loaded_at]],
        column_names=[
            "origin",
            "log_topic",
            "log_partition",
            "tree_size",
            "root_hash",
            "note",
            "created_at",
        ],
    )
    return result
