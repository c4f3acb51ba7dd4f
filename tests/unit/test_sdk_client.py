"""AuditClient at the call site: every validation error, personal values, vocabulary."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from test_sdk_fakes import FakeBroker

from privtrail.errors import ContractError
from privtrail.events import Used, parse_event
from privtrail.sdk import (
    AuditClient,
    ClientClosedError,
    DeliveryOptions,
    SdkConfigError,
    UnknownTermError,
    staff,
    subject_actor,
    system,
)
from privtrail.sdk import client as client_module
from privtrail.sdk.builder import kafka_key, new_event_id
from privtrail.sdk.pseudonym import Pseudonym
from privtrail.wire import decode_event

pytestmark = pytest.mark.unit

KEY = "hex:" + "11" * 32


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    fake = FakeBroker()
    monkeypatch.setattr(client_module, "build_producer", lambda *_a, **_k: fake.producer())
    return fake


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def new_client(tmp_path: Path, registry: CollectorRegistry, **kw: Any) -> AuditClient:
    args: dict[str, Any] = {
        "bootstrap": "fake:9092",
        "service": "support-desk",
        "spool_dir": tmp_path / "spool",
        "pseudonym_key": KEY,
        "pseudonym_key_id": "k1",
        "registry": registry,
        # the fake broker lives in this process; process delivery is tested against the
        # real broker (tests/integration/test_sdk_kafka.py) and in test_sdk_shipper.py
        "options": DeliveryOptions(delivery="thread"),
    }
    args.update(kw)
    return AuditClient(**args)


@pytest.fixture
def audit(tmp_path: Path, broker: FakeBroker, registry: CollectorRegistry) -> Iterator[AuditClient]:
    client = new_client(tmp_path, registry)
    yield client
    client.close(1)


def refused(registry: CollectorRegistry, reason: str) -> float:
    labels = {"service": "support-desk", "reason": reason}
    return registry.get_sample_value("privtrail_sdk_events_refused_total", labels) or 0.0


def sent_events(audit: AuditClient, broker: FakeBroker) -> list[Any]:
    assert audit.flush(5)
    return [decode_event(v) for v in broker.values()]


def test_valid_call_sends_a_pseudonymised_event(audit: AuditClient, broker: FakeBroker) -> None:
    event_id = audit.used(
        "customer-42",
        items=["phone"],
        purpose="user_management",
        operation="view",
        actor=staff("agent-7", role="support"),
    )
    (event,) = sent_events(audit, broker)
    assert isinstance(event, Used)
    assert event.event_id == event_id
    assert event.subject_id == audit.pseudonym("customer-42")
    assert event.subject_id != "customer-42"
    assert event.subject_key_id == "k1"
    assert event.actor.id == "agent-7" and event.actor.role == "support"
    assert event.source.service == "support-desk"
    assert broker.records[0][0] == event.subject_id.encode()  # keyed by pseudonym


def test_defaults_actor_is_the_service_and_time_is_now(
    audit: AuditClient, broker: FakeBroker
) -> None:
    before = datetime.now(UTC)
    audit.consent_given("c1", scope="marketing")
    (event,) = sent_events(audit, broker)
    assert event.actor.kind == "service" and event.actor.id == "support-desk"
    assert before <= event.occurred_at <= datetime.now(UTC)


def test_subject_actor_becomes_the_subject_pseudonym(
    audit: AuditClient, broker: FakeBroker
) -> None:
    audit.withdrawal_requested("c9", actor=subject_actor())
    (event,) = sent_events(audit, broker)
    assert event.actor.kind == "subject" and event.actor.id == audit.pseudonym("c9")


def test_actor_helpers_name_the_field() -> None:
    with pytest.raises(ContractError) as info:
        staff("agent-7", role="x" * 600)
    assert info.value.field == "actor.role" and "at most 512" in str(info.value)
    with pytest.raises(ContractError) as info:
        staff("user@example.invalid")
    assert info.value.field == "actor.id" and "personal value" in str(info.value)


def test_subject_actor_without_subject_is_refused(audit: AuditClient) -> None:
    with pytest.raises(ContractError) as info:
        audit.handler_authorized(handler_id="agent-7", role="support", actor=subject_actor())
    assert info.value.field == "actor.id"


def test_every_event_type_has_a_method_that_sends(audit: AuditClient, broker: FakeBroker) -> None:
    now = datetime.now(UTC)
    s = "c1"
    audit.collected(
        s,
        items=["email", "phone"],
        context="product_inquiry",
        method="inquiry_board",
        purposes=["user_management"],
    )
    audit.used(
        s,
        items=["phone"],
        purpose="user_management",
        operation="view",
        reason="ticket",
        request_id="r-1",
    )
    audit.disclosed(
        s,
        items=["email"],
        recipient="benchmark_email",
        purpose="marketing",
        basis="entrustment",
        legal_reference="contract-7",
    )
    audit.consent_given(s, scope="marketing")
    audit.consent_withdrawn(s, scope="marketing")
    audit.correction_requested(s, request_id="r-2", items=["phone"])
    audit.corrected(s, request_id="r-2")
    audit.recipient_notified(s, request_id="r-2", recipient="salesforce")
    audit.access_requested(s, request_id="r-3", channel="email")
    audit.identity_verified(s, request_id="r-3", verified_as="self")
    audit.access_fulfilled(s, request_id="r-3")
    audit.withdrawal_requested(s, actor=subject_actor())
    audit.archived(s, items=["contract_record"])
    audit.destroyed(
        s, items=["phone"], method="irrecoverable_delete", reason="subject_request", actor=system()
    )
    audit.handler_authorized(handler_id="agent-7", role="support")
    audit.handler_revoked(handler_id="agent-7", role="support")
    audit.policy_published(
        policy_version="colabox-v2", announced_at=now, effective_at=now, significant=True
    )
    events = sent_events(audit, broker)
    from privtrail.events import EVENT_TYPES

    assert [e.type for e in events] == list(EVENT_TYPES)
    keys = [k for k, _ in broker.records]
    assert keys[-3:] == [b"agent-7", b"agent-7", b"colabox-v2"]  # no-subject keys


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        (
            lambda a: a.used("c", items=[], purpose="user_management", operation="view"),
            "items",
            "at least 1",
        ),
        (
            lambda a: a.used("c", items="phone", purpose="user_management", operation="view"),
            "items",
            "list",
        ),
        (lambda a: a.used("c", items=["phone"], purpose=7, operation="view"), "purpose", "string"),
        (
            lambda a: a.used(
                "c", items=["Phone Number"], purpose="user_management", operation="view"
            ),
            "items[0]",
            "not a vocabulary term",
        ),
        (
            lambda a: a.identity_verified("c", request_id="r", verified_as="cousin"),
            "verified_as",
            "self",
        ),
        (
            lambda a: a.destroyed("c", items=["phone"], method="shred", reason="bored"),
            "reason",
            "purpose_fulfilled",
        ),
        (
            lambda a: a.policy_published(
                policy_version="v2",
                announced_at=datetime(2026, 1, 1),
                effective_at=datetime.now(UTC),
                significant=True,
            ),
            "announced_at",
            "time zone",
        ),
        (
            lambda a: a.consent_given("c", scope="marketing", occurred_at="yesterday"),
            "occurred_at",
            "datetime",
        ),
        (lambda a: a.corrected("c", request_id=""), "request_id", "at least 1"),
        (
            lambda a: a.used(None, items=["phone"], purpose="user_management", operation="view"),
            "subject_id",
            "required",
        ),
        (
            lambda a: a.used("", items=["phone"], purpose="user_management", operation="view"),
            "subject_id",
            "non-empty",
        ),
        (
            lambda a: a.handler_authorized(handler_id="h", role="r", event_id=""),
            "event_id",
            "at least 1",
        ),
    ],
)
def test_contract_errors_name_the_field(
    audit: AuditClient,
    broker: FakeBroker,
    registry: CollectorRegistry,
    call: Any,
    field: str,
    message: str,
) -> None:
    with pytest.raises(ContractError) as info:
        call(audit)
    assert info.value.field == field
    assert message in str(info.value)
    assert refused(registry, "contract") == 1
    assert audit.flush(1) and broker.values() == []  # nothing was queued


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda a: a.used(
                "c", items=["user@example.invalid"], purpose="user_management", operation="view"
            ),
            "items[0]",
        ),
        (
            lambda a: a.used(
                "c",
                items=["phone"],
                purpose="user_management",
                operation="view",
                reason="called 010-0000-0000",
            ),
            "reason",
        ),
        (lambda a: a.handler_revoked(handler_id="h1", role="call 010-0000-0000"), "role"),
        (
            lambda a: a.disclosed(
                "c",
                items=["email"],
                recipient="benchmark_email",
                purpose="marketing",
                basis="entrustment",
                legal_reference="to user@example.invalid",
            ),
            "legal_reference",
        ),
        (lambda a: a.handler_authorized(handler_id="01000000000", role="support"), "handler_id"),
    ],
)
def test_personal_values_are_refused(
    audit: AuditClient, broker: FakeBroker, call: Any, field: str
) -> None:
    with pytest.raises(ContractError) as info:
        call(audit)
    assert info.value.field == field
    assert "personal value" in str(info.value)
    assert audit.flush(1) and broker.values() == []


def test_raw_subject_identifier_never_reaches_the_wire(
    audit: AuditClient, broker: FakeBroker
) -> None:
    audit.used("user@example.invalid", items=["email"], purpose="user_management", operation="view")
    assert audit.flush(5)
    ((key, value),) = broker.records
    assert b"example.invalid" not in key and b"example.invalid" not in value


def test_unknown_terms_raise_naming_them(
    audit: AuditClient, broker: FakeBroker, registry: CollectorRegistry
) -> None:
    with pytest.raises(UnknownTermError) as info:
        audit.used("c", items=["phone", "shoe_size"], purpose="astrology", operation="view")
    assert info.value.terms == ["items:shoe_size", "purpose:astrology"]
    assert info.value.event_type == "used"
    assert "items:shoe_size" in str(info.value)
    assert refused(registry, "vocabulary") == 1
    assert audit.flush(1) and broker.values() == []


def test_unknown_terms_warn_and_send_when_configured(
    tmp_path: Path,
    broker: FakeBroker,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = new_client(tmp_path, registry, on_invalid="warn")
    try:
        with caplog.at_level(logging.WARNING, logger="privtrail.sdk"):
            client.used("c", items=["shoe_size"], purpose="user_management", operation="view")
        assert "items:shoe_size" in caplog.text
        assert len(sent_events(client, broker)) == 1
    finally:
        client.close(1)


def test_custom_policy_is_the_one_consulted(
    tmp_path: Path, broker: FakeBroker, registry: CollectorRegistry
) -> None:
    class Everything:
        def unknown_terms(self, event: Any) -> list[str]:
            return ["scope:everything"]

    client = new_client(tmp_path, registry, policy=Everything())
    try:
        with pytest.raises(UnknownTermError, match="scope:everything"):
            client.consent_given("c", scope="marketing")
    finally:
        client.close(1)


def test_emit_json_and_emit_typed(audit: AuditClient, broker: FakeBroker) -> None:
    pseudo = audit.pseudonym("c7")
    data = {
        "type": "consent_given",
        "event_id": new_event_id(),
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": {"service": "billing"},
        "actor": {"kind": "service", "id": "billing"},
        "subject_id": pseudo,
        "subject_key_id": "k1",
        "scope": "marketing",
    }
    audit.emit_json(data)  # subject_id taken as a pseudonym already
    audit.emit_json({**data, "event_id": new_event_id(), "subject_id": "c7"}, pseudonymise=True)
    with pytest.raises(ContractError) as info:
        audit.emit_json({**data, "scope": None})
    assert info.value.field == "scope"
    with pytest.raises(ContractError):
        audit.emit("not an event")  # type: ignore[arg-type]
    events = sent_events(audit, broker)
    assert [e.subject_id for e in events] == [pseudo, pseudo]
    audit.emit(events[0])
    assert len(sent_events(audit, broker)) == 3
    # an event built around validation is validated again before it is sent
    sneaky = type(events[0]).model_construct(**{**dict(events[0]), "scope": "a@b.example"})
    with pytest.raises(ContractError) as info:
        audit.emit(sneaky)
    assert info.value.field == "scope"
    assert parse_event(events[0].to_json()) == events[0]


def test_ready_pseudonym_is_used_as_is(audit: AuditClient, broker: FakeBroker) -> None:
    audit.corrected(Pseudonym("ps_abc", "k0"), request_id="r")
    (event,) = sent_events(audit, broker)
    assert (event.subject_id, event.subject_key_id) == ("ps_abc", "k0")


def test_event_ids_are_unique_time_ordered_and_never_look_personal() -> None:
    from privtrail.events import looks_personal

    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert not any(looks_personal(i) for i in ids)
    assert ids[0][:15] <= ids[-1][:15]  # the millisecond prefix does not go backwards
    assert (
        kafka_key(
            Used(
                event_id=ids[0],
                occurred_at=datetime.now(UTC),
                source={"service": "s"},
                actor={"kind": "service", "id": "s"},
                subject_id="ps_x",
                items=["phone"],
                purpose="p",
                operation="view",
            )
        )
        == b"ps_x"
    )


def test_closed_client_refuses_and_close_is_idempotent(audit: AuditClient) -> None:
    assert audit.close(1)
    assert audit.close(1)
    with pytest.raises(ClientClosedError):
        audit.consent_given("c", scope="marketing")


def test_constructor_refuses_bad_configuration(tmp_path: Path, broker: FakeBroker) -> None:
    with pytest.raises(SdkConfigError) as info:
        new_client(tmp_path, CollectorRegistry(), pseudonym_key=None)
    assert info.value.setting == "pseudonym_key"
    with pytest.raises(SdkConfigError) as info:
        new_client(tmp_path, CollectorRegistry(), pseudonym_key_id=None)
    assert info.value.setting == "pseudonym_key_id"
    with pytest.raises(SdkConfigError) as info:
        new_client(tmp_path, CollectorRegistry(), on_invalid="ignore")
    assert info.value.setting == "on_invalid"
    with pytest.raises(SdkConfigError) as info:
        new_client(tmp_path, CollectorRegistry(), service="")
    assert info.value.setting == "service"
    dev = new_client(tmp_path, CollectorRegistry(), pseudonym_key=None, dev_mode=True)
    try:
        assert dev.pseudonym("c") != audit_pseudonym_with_real_key(tmp_path)
    finally:
        dev.close(1)


def audit_pseudonym_with_real_key(tmp_path: Path) -> str:
    from privtrail.sdk.pseudonym import Pseudonymiser, parse_key

    return Pseudonymiser(key=parse_key(KEY), key_id="k1").pseudonym("c")


FORGETFUL = r"""
import sys
from prometheus_client import CollectorRegistry
from privtrail.sdk import AuditClient, DeliveryOptions
audit = AuditClient(bootstrap="127.0.0.1:9", service="forgetful", spool_dir=sys.argv[1],
                    dev_mode=True, registry=CollectorRegistry(),
                    options=DeliveryOptions(delivery=sys.argv[2]))
for n in range(25):
    audit.corrected(f"c{n}", request_id=f"r{n}")
# no close(): the interpreter exits with the events still queued
"""


@pytest.mark.parametrize("delivery", ["thread", "process"])
def test_events_queued_at_interpreter_exit_are_spooled(tmp_path: Path, delivery: str) -> None:
    import subprocess
    import sys

    from privtrail.sdk.spool import MAGIC, Spool

    spool_dir = tmp_path / "spool"
    subprocess.run(
        [sys.executable, "-c", FORGETFUL, str(spool_dir), delivery], check=True, timeout=60
    )
    spool = Spool(spool_dir)
    spool.open()
    try:
        values = [r.value for seq in spool.segments() for r in spool.read(seq, len(MAGIC), 100)]
    finally:
        spool.close()
    assert [decode_event(v).request_id for v in values] == [f"r{n}" for n in range(25)]
