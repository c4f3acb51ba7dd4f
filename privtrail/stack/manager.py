"""The local stack as one object: Kafka plus ClickHouse, their ports, and a state file.

``$PRIVTRAIL_HOME/stack.json`` records the ports of the last ``up``, so ``status`` and
``down`` (and :meth:`Stack.from_env` in other tools) find the servers again without the
environment variables that chose the ports.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privtrail.config import privtrail_home
from privtrail.errors import StackError
from privtrail.stack import settings
from privtrail.stack.clickhouse import ClickHouseServer
from privtrail.stack.kafka import KafkaServer
from privtrail.stack.ports import StackPorts, require_free
from privtrail.stack.settings import ClickHouseUsers

STATE_FILE = "stack.json"


@dataclass(frozen=True, slots=True)
class StackStatus:
    """Where the servers listen and whether they answer."""

    kafka_bootstrap: str
    kafka_up: bool
    kafka_pid: int | None
    clickhouse_http: str
    clickhouse_tcp: str
    clickhouse_up: bool
    clickhouse_pid: int | None
    home: str

    @property
    def up(self) -> bool:
        return self.kafka_up and self.clickhouse_up

    def to_dict(self) -> dict[str, Any]:
        return {
            "kafka": {
                "bootstrap": self.kafka_bootstrap,
                "up": self.kafka_up,
                "pid": self.kafka_pid,
            },
            "clickhouse": {
                "http": self.clickhouse_http,
                "tcp": self.clickhouse_tcp,
                "up": self.clickhouse_up,
                "pid": self.clickhouse_pid,
            },
            "home": self.home,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def read_state(home: Path) -> StackPorts | None:
    """Ports recorded by the last ``up`` in ``home``, or ``None``."""
    path = home / STATE_FILE
    try:
        data = json.loads(path.read_text())
        return StackPorts.from_dict(data["ports"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise StackError(f"{path} is corrupt ({exc}); delete it and run 'stack up' again") from exc


def write_state(home: Path, ports: StackPorts) -> None:
    path = home / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ports": ports.as_dict()}, indent=2) + "\n")
    tmp.replace(path)


class Stack:
    """Local Apache Kafka + ClickHouse under one ``home``.

    ``cache`` holds the downloaded Kafka jars (default ``$PRIVTRAIL_CACHE`` or
    ``<home>/cache``); pointing several homes at one cache avoids downloading again.
    """

    def __init__(
        self,
        *,
        home: Path,
        ports: StackPorts | None = None,
        cache: Path | None = None,
        users: ClickHouseUsers | None = None,
    ) -> None:
        self.home = home.expanduser().resolve()
        self.ports = ports or StackPorts()
        self.cache = (cache or settings.cache_dir(self.home)).expanduser().resolve()
        self.users = users or ClickHouseUsers.from_env()
        self.kafka = KafkaServer(
            home=self.home,
            cache=self.cache,
            port=self.ports.kafka,
            controller_port=self.ports.kafka_controller,
        )
        self.clickhouse = ClickHouseServer(
            home=self.home,
            http_port=self.ports.clickhouse_http,
            tcp_port=self.ports.clickhouse_tcp,
            users=self.users,
        )

    @classmethod
    def from_env(cls) -> Stack:
        """Home from ``$PRIVTRAIL_HOME``; ports from ``PRIVTRAIL_*_PORT``, else the state
        file of the last ``up``, else the defaults."""
        home = privtrail_home()
        ports = StackPorts.from_env(fallback=read_state(home))
        return cls(home=home, ports=ports)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per home (two shells, or a test and the demo)."""
        lock = self.home / "run" / "stack.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def up(self, timeout: float = 120.0) -> StackStatus:
        """Start what is not running and wait until both answer. Idempotent."""
        with self._exclusive():
            self._up(timeout)
        return self.status()

    def _up(self, timeout: float) -> None:
        self._check_ports_match_running()
        # Check every port before spawning anything, so a busy port leaves nothing behind.
        if not self.kafka.is_running():
            require_free(
                {"kafka": self.ports.kafka, "kafka_controller": self.ports.kafka_controller},
                "Kafka",
            )
        if not self.clickhouse.is_running():
            require_free(
                {
                    "clickhouse_http": self.ports.clickhouse_http,
                    "clickhouse_tcp": self.ports.clickhouse_tcp,
                },
                "ClickHouse",
            )
        # Spawn both before waiting: ClickHouse is ready long before the JVM.
        self.clickhouse.start(wait=False)
        try:
            self.kafka.start(wait=False)
            self.clickhouse.wait_ready()
            self.kafka.wait_ready(timeout)
        except StackError:
            write_state(self.home, self.ports)  # so 'down' finds what did start
            raise
        write_state(self.home, self.ports)

    def _check_ports_match_running(self) -> None:
        """Refuse to start a second broker when ours already runs on other ports."""
        recorded = read_state(self.home)
        if recorded is None or recorded == self.ports:
            return
        if self.kafka.is_running() or self.clickhouse.is_running():
            raise StackError(
                f"the stack in {self.home} already runs on ports {recorded.as_dict()}; "
                "run 'privtrail stack down' before changing ports"
            )

    def down(self) -> list[str]:
        """Stop our processes (pid files prove ownership); data stays.

        Returns the names of the servers that were running and are now stopped.
        """
        if not self.home.exists():
            return []  # nothing was ever started here
        stopped: list[str] = []
        errors: list[str] = []
        with self._exclusive():
            for name, server in (("kafka", self.kafka), ("clickhouse", self.clickhouse)):
                try:
                    if server.stop():
                        stopped.append(name)
                except StackError as exc:
                    errors.append(str(exc))
        if errors:
            raise StackError("; ".join(errors))
        return stopped

    def status(self) -> StackStatus:
        kafka_pid = self.kafka.pid()
        clickhouse_pid = self.clickhouse.pid()
        return StackStatus(
            kafka_bootstrap=self.kafka.bootstrap,
            kafka_up=kafka_pid is not None and self.kafka.is_ready(timeout=3.0),
            kafka_pid=kafka_pid,
            clickhouse_http=self.clickhouse.http_url,
            clickhouse_tcp=f"127.0.0.1:{self.ports.clickhouse_tcp}",
            clickhouse_up=clickhouse_pid is not None and self.clickhouse.is_ready(timeout=1.0),
            clickhouse_pid=clickhouse_pid,
            home=str(self.home),
        )
