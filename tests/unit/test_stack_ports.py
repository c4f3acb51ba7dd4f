"""Port selection and the busy-port message."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from privtrail.errors import StackError
from privtrail.stack.ports import StackPorts, port_answers, port_is_free, require_free

pytestmark = pytest.mark.unit


@pytest.fixture
def listening() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_busy_port_message_names_port_and_variable(listening: int) -> None:
    assert not port_is_free(listening)
    assert port_answers(listening)
    with pytest.raises(StackError) as err:
        require_free({"kafka": listening}, "Kafka")
    message = str(err.value)
    assert str(listening) in message
    assert "PRIVTRAIL_KAFKA_PORT" in message
    assert "Kafka cannot start" in message
    assert "\n" not in message


def test_free_ports_are_free_and_distinct() -> None:
    ports = StackPorts.free()
    values = list(ports.as_dict().values())
    assert len(set(values)) == 4
    assert all(port_is_free(p) for p in values)


def test_free_port_does_not_answer() -> None:
    port = StackPorts.free().kafka
    assert not port_answers(port, timeout=0.2)
    require_free({"kafka": port}, "Kafka")  # no error


def test_env_overrides_fallback_which_overrides_defaults() -> None:
    fallback = StackPorts(
        kafka=1111, clickhouse_http=2222, clickhouse_tcp=3333, kafka_controller=4444
    )
    ports = StackPorts.from_env(fallback, env={"PRIVTRAIL_CLICKHOUSE_HTTP_PORT": "5555"})
    assert ports == StackPorts(
        kafka=1111, clickhouse_http=5555, clickhouse_tcp=3333, kafka_controller=4444
    )
    assert StackPorts.from_env(None, env={}) == StackPorts()
    assert StackPorts().kafka == 19092


@pytest.mark.parametrize("value", ["nope", "0", "70000"])
def test_bad_port_variable_is_one_clear_error(value: str) -> None:
    with pytest.raises(StackError, match="PRIVTRAIL_KAFKA_PORT"):
        StackPorts.from_env(None, env={"PRIVTRAIL_KAFKA_PORT": value})


def test_ports_must_differ() -> None:
    with pytest.raises(StackError, match="must all differ"):
        StackPorts(kafka=1000, clickhouse_http=1000, clickhouse_tcp=1001, kafka_controller=1002)


def test_round_trip_through_dict() -> None:
    ports = StackPorts.free()
    assert StackPorts.from_dict(ports.as_dict()) == ports
