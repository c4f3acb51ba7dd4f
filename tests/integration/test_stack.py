"""The local stack against the real servers: idempotent up, status JSON, data surviving a
restart, nothing left after down, and the ClickHouse grants from users.xml."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.exceptions import DatabaseError
from kafka import KafkaAdminClient

from privtrail.cli.main import cli
from privtrail.errors import StackError
from privtrail.stack import ClickHouseUser, Stack
from privtrail.stack.clickhouse import http_query
from privtrail.stack.ports import port_answers
from privtrail.stack.process import is_alive, process_cmdline
from privtrail.stack.settings import CLICKHOUSE_DATABASE
from privtrail.stack.testing import start_throwaway_stack

pytestmark = pytest.mark.integration


def _processes_mentioning(path: Path) -> list[int]:
    """Live server pids whose command line mentions ``path`` (our servers put their home
    there). The test session's own watchdog also names the home; it is not a server."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        cmdline = process_cmdline(pid)
        if cmdline and str(path) in cmdline and "stack.watchdog" not in cmdline and is_alive(pid):
            found.append(pid)
    return found


# --- the session stack -------------------------------------------------------------------


def test_up_twice_is_idempotent(stack: Stack) -> None:
    before = (stack.kafka.pid(), stack.clickhouse.pid())
    status = stack.up()
    assert status.up
    assert (status.kafka_pid, status.clickhouse_pid) == before
    assert None not in before


def test_status_json_through_the_cli(stack: Stack) -> None:
    env = {"PRIVTRAIL_HOME": str(stack.home)}
    # Unset port variables so the state file of the session stack decides.
    for var in (
        "PRIVTRAIL_KAFKA_PORT",
        "PRIVTRAIL_KAFKA_CONTROLLER_PORT",
        "PRIVTRAIL_CLICKHOUSE_HTTP_PORT",
        "PRIVTRAIL_CLICKHOUSE_TCP_PORT",
    ):
        env[var] = ""
    result = CliRunner().invoke(cli, ["stack", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kafka"] == {
        "bootstrap": f"127.0.0.1:{stack.ports.kafka}",
        "up": True,
        "pid": stack.kafka.pid(),
    }
    assert data["clickhouse"]["http"] == f"http://127.0.0.1:{stack.ports.clickhouse_http}"
    assert data["clickhouse"]["up"] is True


@pytest.fixture
def probe_table(ch_admin: Any) -> Iterator[str]:
    name = f"stack_probe_{uuid.uuid4().hex[:8]}"
    ch_admin.command(
        f"CREATE TABLE {CLICKHOUSE_DATABASE}.{name} (id UInt32, note String) "
        "ENGINE = MergeTree ORDER BY id"
    )
    yield name
    ch_admin.command(f"DROP TABLE IF EXISTS {CLICKHOUSE_DATABASE}.{name}")


def test_writer_can_insert_and_select(ch_writer: Any, probe_table: str) -> None:
    ch_writer.insert(probe_table, [[1, "a"], [2, "b"]], column_names=["id", "note"])
    assert ch_writer.query(f"SELECT count() FROM {probe_table}").result_rows == [(2,)]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE {t} DELETE WHERE id = 1",
        "ALTER TABLE {t} UPDATE note = 'x' WHERE id = 1",
        "DELETE FROM {t} WHERE id = 1",
        "TRUNCATE TABLE {t}",
        "DROP TABLE {t}",
        "ALTER TABLE {t} ADD COLUMN extra String",
    ],
)
def test_writer_cannot_rewrite_history(
    ch_writer: Any, ch_admin: Any, probe_table: str, statement: str
) -> None:
    ch_admin.insert(probe_table, [[1, "a"]], column_names=["id", "note"])
    with pytest.raises(DatabaseError, match="ACCESS_DENIED|Not enough privileges"):
        ch_writer.command(statement.format(t=probe_table))
    assert ch_admin.query(f"SELECT count() FROM {probe_table}").result_rows == [(1,)]


def test_investigator_reads_but_cannot_write(
    ch_investigator: Any, ch_admin: Any, probe_table: str
) -> None:
    ch_admin.insert(probe_table, [[7, "seen"]], column_names=["id", "note"])
    rows = ch_investigator.query(f"SELECT id, note FROM {probe_table}").result_rows
    assert rows == [(7, "seen")]
    with pytest.raises(DatabaseError, match="ACCESS_DENIED|READONLY|readonly|Not enough"):
        ch_investigator.insert(probe_table, [[8, "x"]], column_names=["id", "note"])
    with pytest.raises(DatabaseError, match="ACCESS_DENIED|READONLY|readonly|Not enough"):
        ch_investigator.command(f"ALTER TABLE {probe_table} DELETE WHERE 1")
    assert ch_admin.query(f"SELECT count() FROM {probe_table}").result_rows == [(1,)]


def test_default_user_sees_no_tables(stack: Stack, probe_table: str) -> None:
    # Raw HTTP: clickhouse-connect's own start-up queries already exceed default's quota.
    nobody = ClickHouseUser(name="default", password="")
    sql = f"SELECT * FROM {CLICKHOUSE_DATABASE}.{probe_table}"
    with pytest.raises(StackError, match="ACCESS_DENIED|Not enough privileges"):
        http_query(stack.clickhouse.http_url, nobody, sql)
    with pytest.raises(StackError, match="ACCESS_DENIED|Not enough privileges"):
        http_query(
            stack.clickhouse.http_url, nobody, f"DROP TABLE {CLICKHOUSE_DATABASE}.{probe_table}"
        )


def test_wrong_password_is_refused(stack: Stack) -> None:
    with pytest.raises(DatabaseError, match="AUTHENTICATION_FAILED|password"):
        clickhouse_connect.get_client(
            host="127.0.0.1",
            port=stack.ports.clickhouse_http,
            username="admin",
            password="not-the-password",
        )


def test_topic_factory_makes_partitions(kafka_topic_factory: Any, kafka_admin: Any) -> None:
    name = kafka_topic_factory(partitions=3)
    (described,) = kafka_admin.describe_topics([name])
    assert len(described["partitions"]) == 3


def test_clickhouse_native_tcp_port_listens(stack: Stack) -> None:
    assert port_answers(stack.ports.clickhouse_tcp)


def test_transactions_work_on_the_single_node(stack: Stack, kafka_topic_factory: Any) -> None:
    """Faust's exactly-once mode needs the transaction state log on one broker."""
    from kafka import KafkaConsumer, KafkaProducer

    topic = kafka_topic_factory(partitions=2, prefix="txn")
    producer = KafkaProducer(
        bootstrap_servers=stack.kafka.bootstrap, transactional_id=f"t-{uuid.uuid4().hex[:8]}"
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic, b"aborted")
        producer.abort_transaction()
        producer.begin_transaction()
        producer.send(topic, b"committed")
        producer.commit_transaction()
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka.bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        values = [record.value for record in consumer]
    finally:
        consumer.close()
    assert values == [b"committed"]


# --- a stack of its own, for down/up (the session stack stays untouched) ---------------


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        local = start_throwaway_stack(tmp_path_factory.mktemp("privtrail-own-home"))
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield local
    local.down()


def _admin(stack: Stack) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap, client_id="stack-test")


def _ch(stack: Stack) -> Any:
    return clickhouse_connect.get_client(
        host="127.0.0.1",
        port=stack.ports.clickhouse_http,
        username=stack.users.admin.name,
        password=stack.users.admin.password,
    )


def test_topics_and_rows_survive_down_and_up(own_stack: Stack) -> None:
    topic = f"survivor-{uuid.uuid4().hex[:8]}"
    admin = _admin(own_stack)
    try:
        admin.create_topics(
            {topic: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True
        )
    finally:
        admin.close()
    ch = _ch(own_stack)
    ch.command("CREATE DATABASE IF NOT EXISTS survival")
    ch.command("CREATE TABLE survival.rows (id UInt32) ENGINE = MergeTree ORDER BY id")
    ch.insert("survival.rows", [[1], [2], [3]], column_names=["id"])
    ch.close()

    own_stack.down()
    status = own_stack.status()
    assert not status.kafka_up and not status.clickhouse_up
    assert _processes_mentioning(own_stack.home) == []

    own_stack.up()
    admin = _admin(own_stack)
    try:
        assert topic in admin.list_topics()
        (described,) = admin.describe_topics([topic])
        assert len(described["partitions"]) == 2
    finally:
        admin.close()
    ch = _ch(own_stack)
    assert ch.query("SELECT sum(id) FROM survival.rows").result_rows == [(6,)]
    ch.close()


def test_each_server_restarts_alone(own_stack: Stack) -> None:
    ch_pid = own_stack.clickhouse.pid()
    assert own_stack.kafka.stop()
    assert not own_stack.status().kafka_up
    assert own_stack.clickhouse.pid() == ch_pid  # the other server is untouched
    own_stack.kafka.start()
    assert own_stack.kafka.is_ready()

    ch = _ch(own_stack)
    ch.command(
        "CREATE TABLE IF NOT EXISTS default.crash (id UInt32) ENGINE = MergeTree ORDER BY id"
    )
    ch.insert("default.crash", [[41], [1]], column_names=["id"])
    ch.close()
    assert own_stack.clickhouse.kill()  # crash, not a clean stop
    assert not own_stack.clickhouse.is_running()
    own_stack.clickhouse.start()
    assert own_stack.status().up
    ch = _ch(own_stack)
    assert ch.query("SELECT sum(id) FROM default.crash").result_rows == [(42,)]
    ch.close()


def test_kafka_recovers_after_sigkill(own_stack: Stack) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"crash-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=own_stack.kafka.bootstrap, acks="all")
    producer.send(topic, b"before-crash").get(timeout=30)
    producer.close()
    assert own_stack.kafka.kill()
    own_stack.kafka.start()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=own_stack.kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    try:
        first = next(iter(consumer), None)  # stops at the first record, or after the timeout
    finally:
        consumer.close()
    assert first is not None and first.value == b"before-crash"


def test_down_leaves_no_process(own_stack: Stack) -> None:
    own_stack.up()
    pids = [own_stack.kafka.pid(), own_stack.clickhouse.pid()]
    assert None not in pids
    own_stack.down()
    assert not any(is_alive(pid) for pid in pids if pid is not None)
    assert _processes_mentioning(own_stack.home) == []
    assert not (own_stack.home / "run" / "kafka.pid").exists()
    assert not (own_stack.home / "run" / "clickhouse.pid").exists()
    own_stack.down()  # idempotent too


def test_watchdog_stops_a_stack_whose_owner_died(tmp_path: Path) -> None:
    """A test session killed without teardown must not leave servers running."""
    home = tmp_path / "orphan-home"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from privtrail.stack.testing import start_throwaway_stack\n"
        "stack = start_throwaway_stack(Path(sys.argv[1]))\n"
        "print(stack.kafka.pid(), stack.clickhouse.pid(), flush=True)\n"
        "os._exit(9)\n"  # dies without any teardown
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(home)], capture_output=True, text=True, timeout=180
    )
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 2, done.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids):
        time.sleep(0.2)
    assert not any(is_alive(pid) for pid in pids)
    assert _processes_mentioning(home) == []


def test_clickhouse_startup_failure_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port taken between our check and chDB's bind: the process exits and says why."""
    import socket

    from privtrail.stack import clickhouse
    from privtrail.stack.ports import StackPorts

    monkeypatch.setattr(clickhouse, "require_free", lambda *args, **kwargs: None)
    ports = StackPorts.free()
    server = clickhouse.ClickHouseServer(
        home=tmp_path / "home", http_port=ports.clickhouse_http, tcp_port=ports.clickhouse_tcp
    )
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", ports.clickhouse_http))
    squatter.listen()
    try:
        with pytest.raises(StackError, match="ClickHouse exited while starting.*already in use"):
            server.start(timeout=60)
    finally:
        squatter.close()
        server.stop()
    assert server.pid() is None
