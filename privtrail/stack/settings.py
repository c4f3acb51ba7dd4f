"""Every environment variable the local stack reads, read here and nowhere else.

The stack's state lives under ``$PRIVTRAIL_HOME`` (see :func:`privtrail.config.privtrail_home`);
the downloaded Kafka jars live in a cache folder that defaults to ``$PRIVTRAIL_HOME/cache``
but can be shared between homes with ``$PRIVTRAIL_CACHE`` (the test fixture does that, so
a temporary test home does not download Kafka again).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from privtrail.config import privtrail_home
from privtrail.errors import StackError

KAFKA_VERSION = "4.1.1"
"""``org.apache.kafka:kafka_2.13`` version the stack runs (4.x: KRaft only, Java 17)."""

DEFAULT_KAFKA_PORT = 19092
DEFAULT_KAFKA_CONTROLLER_PORT = 19093
DEFAULT_CLICKHOUSE_HTTP_PORT = 18123
DEFAULT_CLICKHOUSE_TCP_PORT = 19000

# Development defaults only. They are not secrets: the servers listen on 127.0.0.1 only.
# Deployments set the PRIVTRAIL_CH_*_PASSWORD variables (docker-compose passes them through).
_DEFAULT_PASSWORDS = {
    "admin": "privtrail-admin-dev",
    "writer": "privtrail-writer-dev",
    "investigator": "privtrail-investigator-dev",
}
PASSWORD_ENV = {
    "admin": "PRIVTRAIL_CH_ADMIN_PASSWORD",
    "writer": "PRIVTRAIL_CH_WRITER_PASSWORD",
    "investigator": "PRIVTRAIL_CH_INVESTIGATOR_PASSWORD",
}

CLICKHOUSE_DATABASE = "privtrail"


def cache_dir(home: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Download cache for the Kafka jars: ``$PRIVTRAIL_CACHE``, else ``<home>/cache`` where
    ``home`` defaults to ``$PRIVTRAIL_HOME``."""
    env = os.environ if env is None else env
    explicit = env.get("PRIVTRAIL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return (home or privtrail_home()) / "cache"


def port_from_env(name: str, default: int, env: Mapping[str, str] | None = None) -> int | None:
    """The port in ``$name`` if set (validated), else ``None``; ``default`` is only shown
    as an example in the error message."""
    env = os.environ if env is None else env
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        port = int(raw)
    except ValueError as exc:
        raise StackError(f"{name}={raw!r} is not a port number (e.g. {name}={default})") from exc
    if not 1 <= port <= 65535:
        raise StackError(f"{name}={port} is outside 1..65535")
    return port


@dataclass(frozen=True, slots=True)
class ClickHouseUser:
    """Login of one of the ClickHouse users defined in ``users.xml``."""

    name: str
    password: str


@dataclass(frozen=True, slots=True)
class ClickHouseUsers:
    """The three users from ``users.xml`` that clients log in as."""

    admin: ClickHouseUser
    writer: ClickHouseUser
    investigator: ClickHouseUser

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClickHouseUsers:
        env = os.environ if env is None else env

        def user(name: str) -> ClickHouseUser:
            password = env.get(PASSWORD_ENV[name]) or _DEFAULT_PASSWORDS[name]
            return ClickHouseUser(name=name, password=password)

        return cls(admin=user("admin"), writer=user("writer"), investigator=user("investigator"))

    def as_env(self) -> dict[str, str]:
        """The ``PRIVTRAIL_CH_*_PASSWORD`` variables that ``users.xml`` reads (``from_env``)."""
        return {
            PASSWORD_ENV["admin"]: self.admin.password,
            PASSWORD_ENV["writer"]: self.writer.password,
            PASSWORD_ENV["investigator"]: self.investigator.password,
        }


def java_executable(env: Mapping[str, str] | None = None) -> str | None:
    """``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set, else ``None`` (use ``PATH``)."""
    env = os.environ if env is None else env
    home = env.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.exists():
            return str(candidate)
    return None


def kafka_heap_opts(env: Mapping[str, str] | None = None) -> list[str]:
    """JVM heap flags for the broker: ``$PRIVTRAIL_KAFKA_HEAP_OPTS`` or a small default.

    The default is small on purpose: the dev machines have 2 cores and several stacks.
    """
    env = os.environ if env is None else env
    raw = env.get("PRIVTRAIL_KAFKA_HEAP_OPTS")
    return raw.split() if raw else ["-Xms128m", "-Xmx512m"]
