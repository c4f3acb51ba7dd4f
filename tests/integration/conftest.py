"""Session fixtures for integration tests: a real Apache Kafka broker and a real ClickHouse
server, started as local processes in a temporary ``$PRIVTRAIL_HOME`` on free ports.

The Kafka jars come from the shared download cache (``$PRIVTRAIL_CACHE``, default
``~/.privtrail/cache``), so only the first session on a machine downloads them. If the stack
cannot start, every test that needs it fails (not skips) with the reason.

Fixtures: ``stack``, ``kafka_bootstrap``, ``clickhouse_http_url``, ``ch_admin``,
``ch_writer``, ``ch_investigator`` (clickhouse-connect clients on database ``privtrail``),
``kafka_admin`` and ``kafka_topic_factory``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from privtrail.errors import StackError
from privtrail.stack import ClickHouseUser, Stack
from privtrail.stack.settings import CLICKHOUSE_DATABASE
from privtrail.stack.testing import start_throwaway_stack


def start_test_stack(home: Path) -> Stack:
    """A started stack in ``home``, or a test failure (not a skip) that says why."""
    try:
        return start_throwaway_stack(home)
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A started :class:`Stack` for the whole session; stopped at the end."""
    local = start_test_stack(tmp_path_factory.mktemp("privtrail-home"))
    try:
        local.clickhouse.ensure_database(CLICKHOUSE_DATABASE)
        yield local
    finally:
        local.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: Stack) -> str:
    return stack.kafka.bootstrap


@pytest.fixture(scope="session")
def clickhouse_http_url(stack: Stack) -> str:
    return stack.clickhouse.http_url


def _ch_client(stack: Stack, user: ClickHouseUser) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(
        host="127.0.0.1",
        port=stack.ports.clickhouse_http,
        username=user.name,
        password=user.password,
        database=CLICKHOUSE_DATABASE,
    )


@pytest.fixture(scope="session")
def ch_admin(stack: Stack) -> Iterator[Any]:
    """clickhouse-connect client as ``admin`` (DDL, and tampering behind the sink's back)."""
    client = _ch_client(stack, stack.users.admin)
    yield client
    client.close()


@pytest.fixture(scope="session")
def ch_writer(stack: Stack) -> Iterator[Any]:
    """clickhouse-connect client as ``writer`` (INSERT and SELECT on privtrail.* only)."""
    client = _ch_client(stack, stack.users.writer)
    yield client
    client.close()


@pytest.fixture(scope="session")
def ch_investigator(stack: Stack) -> Iterator[Any]:
    """clickhouse-connect client as ``investigator`` (SELECT on privtrail.* only)."""
    client = _ch_client(stack, stack.users.investigator)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Iterator[Any]:
    """kafka-python ``KafkaAdminClient`` on the session broker."""
    from kafka import KafkaAdminClient

    # Some tests stop and restart the session broker. kafka-python's reconnect backoff
    # grows to 30 s by default, and in that window every call fails at once with
    # NodeNotReadyError: one CI run lost the next twelve tests that way. 1 s bounds it.
    admin = KafkaAdminClient(
        bootstrap_servers=kafka_bootstrap,
        client_id="privtrail-tests",
        reconnect_backoff_max_ms=1000,
    )
    yield admin
    admin.close()


@pytest.fixture
def kafka_topic_factory(kafka_admin: Any) -> Callable[..., str]:
    """``make(partitions=1, prefix="test", configs=None) -> name``: a new topic with a unique
    name, visible in metadata with a leader for every partition when it returns."""

    def make(
        partitions: int = 1, prefix: str = "test", configs: dict[str, str] | None = None
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        spec = {"num_partitions": partitions, "replication_factor": 1, "configs": configs or {}}
        kafka_admin.create_topics(
            {name: spec},
            wait_for_metadata=True,
        )
        return name

    return make
