"""AsyncAuditClient: the same methods as coroutines over the same core."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from test_sdk_fakes import FakeBroker

from privtrail.errors import ContractError
from privtrail.sdk import AsyncAuditClient, AuditClient, DeliveryOptions, UnknownTermError
from privtrail.sdk import client as client_module
from privtrail.sdk.methods import EventMethods
from privtrail.wire import decode_event

pytestmark = pytest.mark.unit


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    fake = FakeBroker()
    monkeypatch.setattr(client_module, "build_producer", lambda *_a, **_k: fake.producer())
    return fake


def make(tmp_path: Path) -> AsyncAuditClient:
    return AsyncAuditClient(
        bootstrap="fake:9092",
        service="mailer",
        spool_dir=tmp_path / "spool",
        pseudonym_key=bytes(range(32)),
        pseudonym_key_id="k1",
        registry=CollectorRegistry(),
        options=DeliveryOptions(delivery="thread"),  # the fake broker lives in this process
    )


def test_async_methods_send_and_validate_at_the_call_site(
    tmp_path: Path, broker: FakeBroker
) -> None:
    async def scenario() -> list[str]:
        async with make(tmp_path) as audit:
            ids = [await audit.consent_given(f"c{i}", scope="marketing") for i in range(10)]
            with pytest.raises(ContractError):
                audit.used("c", items=[], purpose="marketing", operation="view")  # no await
            with pytest.raises(UnknownTermError):
                audit.consent_given("c", scope="horoscopes")
            audit.consent_withdrawn("c0", scope="marketing")  # fire and forget: still sent
            assert await audit.flush(5)
            return ids

    ids = asyncio.run(scenario())
    events = [decode_event(v) for v in broker.values()]
    assert [e.event_id for e in events][:10] == ids
    assert events[-1].type == "consent_withdrawn"


def test_async_client_while_spooling_keeps_order(tmp_path: Path, broker: FakeBroker) -> None:
    broker.refuse_producers = True

    async def scenario() -> None:
        audit = make(tmp_path)
        await audit.corrected("c0", request_id="r0")
        for _ in range(500):  # the sender notices the broker is unreachable
            if audit.sync.spooling:
                break
            await asyncio.sleep(0.01)
        assert audit.sync.spooling
        for i in range(1, 30):  # these take the worker-thread path to the spool
            await audit.corrected(f"c{i % 3}", request_id=f"r{i}")
        broker.refuse_producers = False
        assert await audit.flush(5)
        await audit.close()

    asyncio.run(scenario())
    assert [decode_event(v).request_id for v in broker.values()] == [f"r{i}" for i in range(30)]


def test_both_clients_share_one_method_table() -> None:
    names = {n for n in vars(EventMethods) if not n.startswith("_")}
    assert len(names) == 17
    for name in names:
        assert name not in vars(AuditClient) and name not in vars(AsyncAuditClient)
