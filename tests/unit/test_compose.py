"""docker-compose.yml cannot run here (no Docker engine); check its shape instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_services_present(compose: dict[str, Any]) -> None:
    assert {"kafka", "clickhouse", "worker", "sink", "migrate"} <= set(compose["services"])


def test_official_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:26.")
    for name in ("worker", "sink", "migrate"):
        assert services[name]["build"] == ".", name
    assert (ROOT / "Dockerfile").is_file()


def test_kafka_is_kraft(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    # Exactly-once in the worker needs the transaction log on a single broker.
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 1


@pytest.mark.parametrize(("service", "port"), [("kafka", "9092:9092"), ("clickhouse", "8123:8123")])
def test_ports(compose: dict[str, Any], service: str, port: str) -> None:
    assert port in compose["services"][service]["ports"]


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name in ("kafka", "clickhouse", "worker", "sink"):
        check = compose["services"][name].get("healthcheck")
        assert check and check["test"], f"{name} has no healthcheck"


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    mounted = 0
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
                mounted += 1
    assert mounted >= 3


def test_clickhouse_gets_the_local_stack_users(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["clickhouse"]["volumes"]
    assert "./privtrail/stack/users.xml:/etc/clickhouse-server/users.xml:ro" in volumes
    users = (ROOT / "privtrail/stack/users.xml").read_text()
    for env in ("PRIVTRAIL_CH_WRITER_PASSWORD", "PRIVTRAIL_CH_INVESTIGATOR_PASSWORD"):
        assert env in users
        assert env in compose["services"]["clickhouse"]["environment"]


def test_sink_waits_for_migrations(compose: dict[str, Any]) -> None:
    depends = compose["services"]["sink"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["clickhouse"]["condition"] == "service_healthy"
