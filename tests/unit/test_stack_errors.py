"""What goes wrong before any server starts gives one clear line, not a traceback."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from privtrail.cli.main import cli, main
from privtrail.errors import StackError
from privtrail.stack import Stack, StackPorts
from privtrail.stack.java import find_java
from privtrail.stack.kafka_jars import ensure_jars, jars_ready
from privtrail.stack.manager import write_state

pytestmark = pytest.mark.unit


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return bin_dir


def test_missing_java(empty_path: Path) -> None:
    with pytest.raises(StackError, match="Java is not installed.*install Java 17"):
        find_java()


def test_missing_maven(empty_path: Path, tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"Maven \('mvn'\) is not on PATH; install Maven"):
        ensure_jars(tmp_path / "cache")


def test_failed_download(empty_path: Path, tmp_path: Path) -> None:
    fake = empty_path / "mvn"
    fake.write_text("#!/bin/sh\necho '[ERROR] Could not transfer artifact: network down'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    cache = tmp_path / "cache"
    with pytest.raises(StackError) as err:
        ensure_jars(cache)
    message = str(err.value)
    assert "downloading Apache Kafka" in message and "network down" in message
    assert "\n" not in message
    assert not jars_ready(cache)  # nothing half-downloaded is taken for complete
    assert not (cache / "kafka-4.1.1" / "libs").exists()


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _env_for(home: Path, ports: StackPorts) -> dict[str, str]:
    return {
        "PRIVTRAIL_HOME": str(home),
        "PRIVTRAIL_KAFKA_PORT": str(ports.kafka),
        "PRIVTRAIL_KAFKA_CONTROLLER_PORT": str(ports.kafka_controller),
        "PRIVTRAIL_CLICKHOUSE_HTTP_PORT": str(ports.clickhouse_http),
        "PRIVTRAIL_CLICKHOUSE_TCP_PORT": str(ports.clickhouse_tcp),
    }


def test_busy_port_starts_nothing(tmp_path: Path, busy_port: int) -> None:
    free = StackPorts.free()
    ports = StackPorts(
        kafka=free.kafka,
        kafka_controller=free.kafka_controller,
        clickhouse_http=free.clickhouse_http,
        clickhouse_tcp=busy_port,
    )
    stack = Stack(home=tmp_path / "home", ports=ports, cache=tmp_path / "cache")
    with pytest.raises(StackError, match=f"port {busy_port} .*PRIVTRAIL_CLICKHOUSE_TCP_PORT"):
        stack.up()
    assert stack.kafka.pid() is None and stack.clickhouse.pid() is None


def test_cli_renders_stack_error_as_one_line(
    tmp_path: Path,
    busy_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    free = StackPorts.free()
    ports = StackPorts(
        kafka=busy_port,
        kafka_controller=free.kafka_controller,
        clickhouse_http=free.clickhouse_http,
        clickhouse_tcp=free.clickhouse_tcp,
    )
    for key, value in _env_for(tmp_path / "home", ports).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["stack", "up"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: port ") and "PRIVTRAIL_KAFKA_PORT" in err
    assert len(err.splitlines()) == 1


def test_status_json_when_down_exits_non_zero(tmp_path: Path) -> None:
    ports = StackPorts.free()
    result = CliRunner().invoke(
        cli, ["stack", "status", "--json"], env=_env_for(tmp_path / "home", ports)
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["kafka"]["bootstrap"] == f"127.0.0.1:{ports.kafka}"
    assert data["kafka"]["up"] is False
    assert data["clickhouse"]["http"] == f"http://127.0.0.1:{ports.clickhouse_http}"
    assert data["clickhouse"]["up"] is False


def test_down_when_nothing_runs_is_fine(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["stack", "down"], env=_env_for(tmp_path / "home", StackPorts.free())
    )
    assert result.exit_code == 0, result.output


def test_changing_ports_of_a_running_stack_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    running = Stack(home=home, ports=StackPorts.free(), cache=tmp_path / "cache")
    # Stand-in for a running broker: a process whose pid file and command line prove it
    # belongs to this home (no JVM needed to test the check).
    marker = str(running.kafka.config_path)
    running.kafka.process.spawn(
        [sys.executable, "-c", "import time; time.sleep(60)", marker],
        cwd=tmp_path,
        log_path=tmp_path / "sleeper.log",
        env=os.environ,
    )
    write_state(home, running.ports)
    try:
        moved = Stack(home=home, ports=StackPorts.free(), cache=tmp_path / "cache")
        with pytest.raises(StackError, match="already runs on ports.*stack down"):
            moved.up()
    finally:
        assert running.kafka.process.stop(timeout=5)
