"""Rendering of the stack's config files, and the invariants of users.xml."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from privtrail.stack.clickhouse import ClickHouseConfig, users_xml_path
from privtrail.stack.kafka import KafkaConfig, new_cluster_id, render_log4j2
from privtrail.stack.kafka_jars import render_pom
from privtrail.stack.settings import ClickHouseUsers

pytestmark = pytest.mark.unit


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def test_kafka_properties_single_node_kraft(tmp_path: Path) -> None:
    props = _properties(KafkaConfig(port=31092, controller_port=31093, data_dir=tmp_path).render())
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:31093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:31092,CONTROLLER://127.0.0.1:31093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:31092"
    assert props["log.dirs"] == str(tmp_path)
    # One node: transactions (Faust exactly-once) only work with these at 1.
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "min.insync.replicas",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "true"
    assert int(props["num.partitions"]) >= 1
    assert "$" not in "".join(props.values())  # every placeholder was substituted


def test_kafka_cluster_id_shape() -> None:
    ids = {new_cluster_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 22 and "=" not in i for i in ids)


def test_log4j2_config_is_xml_writing_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "kafka.log"
    root = ET.fromstring(render_log4j2(log))
    appender = root.find("./Appenders/RollingFile")
    assert appender is not None and appender.get("fileName") == str(log)


def test_pom_uses_the_slf4j_1x_binding() -> None:
    pom = render_pom("4.1.1", "2.24.3")
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = {
        d.findtext("m:artifactId", namespaces=ns): d.findtext("m:version", namespaces=ns)
        for d in ET.fromstring(pom).iterfind(".//m:dependency", ns)
    }
    assert deps["kafka_2.13"] == "4.1.1"
    # Kafka 4.1 depends on slf4j-api 1.7.x: the log4j2 binding for that is log4j-slf4j-impl.
    assert deps["log4j-slf4j-impl"] == "2.24.3"
    assert "log4j-slf4j2-impl" not in deps


def test_clickhouse_config_renders_ports_and_users(tmp_path: Path) -> None:
    config = ClickHouseConfig(
        http_port=31123,
        tcp_port=31900,
        log_file=tmp_path / "ch.log",
        error_log_file=tmp_path / "ch.err.log",
        users_xml=users_xml_path(),
    )
    root = ET.fromstring(config.render())
    assert root.findtext("listen_host") == "127.0.0.1"
    assert root.findtext("http_port") == "31123"
    assert root.findtext("tcp_port") == "31900"
    assert Path(root.findtext("users_config") or "").is_file()
    assert root.findtext("logger/log") == str(tmp_path / "ch.log")


def _grants(user: ET.Element) -> list[str]:
    return [q.text or "" for q in user.iterfind("grants/query")]


def test_users_xml_roles() -> None:
    users = ET.parse(users_xml_path()).getroot().find("users")
    assert users is not None
    by_name = {u.tag: u for u in users}
    assert set(by_name) == {"default", "admin", "writer", "investigator"}

    writer = " ".join(_grants(by_name["writer"])).upper()
    assert "INSERT" in writer and "SELECT" in writer and "PRIVTRAIL.*" in writer
    for forbidden in ("ALTER", "DELETE", "TRUNCATE", "DROP", "ALL", "*.*"):
        assert forbidden not in writer, forbidden

    investigator = " ".join(_grants(by_name["investigator"])).upper()
    assert investigator == "GRANT SELECT ON PRIVTRAIL.*"

    default = " ".join(_grants(by_name["default"])).upper()
    assert "SYSTEM LISTEN" in default
    assert "SELECT" not in default and "INSERT" not in default and "ALL" not in default
    assert by_name["default"].findtext("quota") == "tiny"


def test_users_xml_passwords_come_from_the_environment() -> None:
    users = ET.parse(users_xml_path()).getroot().find("users")
    assert users is not None
    env_names = set(ClickHouseUsers.from_env({}).as_env())
    for name in ("admin", "writer", "investigator"):
        password = users.find(f"{name}/password")
        assert password is not None and password.get("from_env") in env_names
        assert not (password.text or "").strip()  # no password written in the file


def test_passwords_overridable() -> None:
    users = ClickHouseUsers.from_env({"PRIVTRAIL_CH_WRITER_PASSWORD": "from-env"})
    assert users.writer.password == "from-env"
    assert users.admin.password != "from-env"
    assert users.as_env()["PRIVTRAIL_CH_WRITER_PASSWORD"] == "from-env"


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    import privtrail.stack.kafka as kafka

    # 0xF8 encodes to "-" in URL-safe base64: the CLI would read such an id as an option.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = new_cluster_id()
    assert not cluster_id.startswith("-")
    assert cluster_id == "AQEBAQEBAQEBAQEBAQEBAQ"
