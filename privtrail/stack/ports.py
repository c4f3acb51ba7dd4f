"""The four TCP ports of the stack, and checks that a port is free or answering."""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from privtrail.errors import StackError
from privtrail.stack import settings

HOST = "127.0.0.1"

# Which variable sets which port: the error for a busy port names it.
PORT_ENV = {
    "kafka": "PRIVTRAIL_KAFKA_PORT",
    "kafka_controller": "PRIVTRAIL_KAFKA_CONTROLLER_PORT",
    "clickhouse_http": "PRIVTRAIL_CLICKHOUSE_HTTP_PORT",
    "clickhouse_tcp": "PRIVTRAIL_CLICKHOUSE_TCP_PORT",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StackPorts:
    """Ports on 127.0.0.1: Kafka client, Kafka controller (KRaft), ClickHouse HTTP and TCP."""

    kafka: int = settings.DEFAULT_KAFKA_PORT
    clickhouse_http: int = settings.DEFAULT_CLICKHOUSE_HTTP_PORT
    clickhouse_tcp: int = settings.DEFAULT_CLICKHOUSE_TCP_PORT
    kafka_controller: int = settings.DEFAULT_KAFKA_CONTROLLER_PORT

    def __post_init__(self) -> None:
        values = self.as_dict()
        for name, port in values.items():
            if not isinstance(port, int) or not 1 <= port <= 65535:
                raise StackError(f"port {name}={port!r} is not a TCP port (1..65535)")
        if len(set(values.values())) != len(values):
            raise StackError(f"the stack's ports must all differ, got {values}")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackPorts:
        known = {k: int(v) for k, v in data.items() if k in PORT_ENV}
        return cls(**known)

    @classmethod
    def from_env(
        cls, fallback: StackPorts | None = None, env: Mapping[str, str] | None = None
    ) -> StackPorts:
        """Ports from ``PRIVTRAIL_*_PORT``; unset ones come from ``fallback`` (or defaults)."""
        env = os.environ if env is None else env
        base = (fallback or cls()).as_dict()
        defaults = cls().as_dict()
        for name, var in PORT_ENV.items():
            port = settings.port_from_env(var, defaults[name], env)
            if port is not None:
                base[name] = port
        return cls(**base)

    @classmethod
    def free(cls) -> StackPorts:
        """Four ports the kernel says are free now (for tests; bind to port 0)."""
        socks = []
        try:
            for _ in PORT_ENV:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((HOST, 0))
                socks.append(sock)
            kafka, controller, http, tcp = (s.getsockname()[1] for s in socks)
        finally:
            for sock in socks:
                sock.close()
        return cls(
            kafka=kafka, kafka_controller=controller, clickhouse_http=http, clickhouse_tcp=tcp
        )


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on ``host:port`` and we may bind it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR as the servers set it: a port in TIME_WAIT after our own stop is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return False
        raise StackError(f"cannot check port {host}:{port}: {exc}") from exc
    finally:
        sock.close()
    return True


def port_answers(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_free(ports: Mapping[str, int], component: str, grace: float = 0.0) -> None:
    """Raise :class:`StackError` naming the first busy port and the variable that moves it.

    ``grace`` seconds of waiting cover a server of ours that is still releasing its socket.
    """
    deadline = time.monotonic() + grace
    for name, port in ports.items():
        while not port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not port_is_free(port):
            var = PORT_ENV.get(name, "")
            hint = f"set {var} to a free port" if var else "choose another port"
            raise StackError(
                f"port {port} ({name}) is already in use by another process, so {component} "
                f"cannot start; stop that process or {hint}"
            )
