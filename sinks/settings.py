"""The sink's settings: every ``PRIVTRAIL_*`` variable the sink, verify and prove read.

Defaults fit the local stack (``privtrail stack start``). Secrets (passwords, the checkpoint
signer key) are held in :class:`Secret` so they never show up in a ``repr`` or a log line.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from privtrail.config import Topics, privtrail_home
from privtrail.errors import PrivtrailError
from privtrail.sinks.dedup import DEFAULT_WINDOW
from privtrail.stack.settings import ClickHouseUsers
from privtrail.tlog import NoteSigner, NoteVerifier

DEV_KEY_FILE = "checkpoint-signer.key"
DEFAULT_KEY_NAME = "privtrail-dev"
_TOPICS = Topics()


class SettingsError(PrivtrailError, ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A string that prints as ``'***'``."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"


@dataclass(frozen=True, slots=True)
class ClickHouseUser:
    name: str
    password: Secret


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """Everything the sink needs; build with :meth:`from_env` or pass fields directly."""

    clickhouse_url: str = "http://127.0.0.1:18123"
    writer: ClickHouseUser = ClickHouseUser("writer", Secret(""))
    admin: ClickHouseUser = ClickHouseUser("admin", Secret(""))
    investigator: ClickHouseUser = ClickHouseUser("investigator", Secret(""))
    kafka_bootstrap: str = "127.0.0.1:19092"
    topics: Topics = Topics()
    group_id: str = "privtrail-sink"
    batch_max_rows: int = 50_000
    batch_max_seconds: float = 1.0
    checkpoint_interval: float = 60.0
    log_origin: str = "privtrail.local/log"
    checkpoint_key: Secret | None = None
    verifier_key: str | None = None
    metrics_port: int = 0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    dedup_window: int = DEFAULT_WINDOW
    """Event ids remembered per partition to drop re-forwarded copies (sinks/dedup.py)."""
    clickhouse_compress: bool | None = None
    """LZ4 on the HTTP body: None (auto) compresses unless ClickHouse is on a loopback
    address, where it only costs CPU on both ends (about 1.5 us per row in the sink)."""
    crash_point: str = ""
    """Test-harness only: ``after_insert:N`` SIGKILLs the sink after its N-th insert, before
    the offset commit, so the crash-recovery test can hit that moment deterministically."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SinkSettings:
        e = os.environ if env is None else env

        # Passwords: the stack's users.xml reads the same variables, with the same dev defaults.
        logins = ClickHouseUsers.from_env(e)

        def user(role: str, default: str) -> ClickHouseUser:
            login = getattr(logins, role)
            return ClickHouseUser(
                e.get(f"PRIVTRAIL_CH_{role.upper()}_USER", default), Secret(login.password)
            )

        def number(name: str, default: float) -> float:
            raw = e.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError as exc:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
            if value < 0:
                raise SettingsError(f"{name} must not be negative, got {raw!r}")
            return value

        key = e.get("PRIVTRAIL_CHECKPOINT_KEY")
        return cls(
            clickhouse_url=e.get("PRIVTRAIL_CLICKHOUSE_URL")
            or f"http://127.0.0.1:{e.get('PRIVTRAIL_CLICKHOUSE_HTTP_PORT') or 18123}",
            writer=user("writer", "writer"),
            admin=user("admin", "admin"),
            investigator=user("investigator", "investigator"),
            kafka_bootstrap=e.get("PRIVTRAIL_BOOTSTRAP_SERVERS")
            or f"127.0.0.1:{e.get('PRIVTRAIL_KAFKA_PORT') or 19092}",
            # Not Topics.from_env(): its class-attribute defaults are slot descriptors.
            topics=Topics(
                events=e.get("PRIVTRAIL_TOPIC_EVENTS", _TOPICS.events),
                valid=e.get("PRIVTRAIL_TOPIC_VALID", _TOPICS.valid),
                dlq=e.get("PRIVTRAIL_TOPIC_DLQ", _TOPICS.dlq),
                alerts=e.get("PRIVTRAIL_TOPIC_ALERTS", _TOPICS.alerts),
            ),
            group_id=e.get("PRIVTRAIL_SINK_GROUP", "privtrail-sink"),
            batch_max_rows=int(number("PRIVTRAIL_SINK_BATCH_ROWS", 50_000)) or 1,
            batch_max_seconds=number("PRIVTRAIL_SINK_BATCH_SECONDS", 1.0),
            checkpoint_interval=number("PRIVTRAIL_CHECKPOINT_INTERVAL", 60.0),
            log_origin=e.get("PRIVTRAIL_LOG_ORIGIN", "privtrail.local/log"),
            checkpoint_key=Secret(key) if key else None,
            verifier_key=e.get("PRIVTRAIL_CHECKPOINT_VERIFIER_KEY") or None,
            metrics_port=int(number("PRIVTRAIL_SINK_METRICS_PORT", 0)),
            backoff_initial=number("PRIVTRAIL_SINK_BACKOFF_INITIAL", 0.5),
            backoff_max=number("PRIVTRAIL_SINK_BACKOFF_MAX", 30.0),
            dedup_window=max(1, int(number("PRIVTRAIL_SINK_DEDUP_WINDOW", DEFAULT_WINDOW))),
            clickhouse_compress=_flag(e, "PRIVTRAIL_CLICKHOUSE_COMPRESS"),
            crash_point=e.get("PRIVTRAIL_SINK_CRASH_POINT", ""),
        )

    def origin(self, topic: str, partition: int) -> str:
        """The C2SP origin line of one partition's log: ``<log_origin>/<topic>/<partition>``."""
        return f"{self.log_origin}/{topic}/{partition}"


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    """An on/off variable; unset or ``auto`` is None."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "auto"):
        return None
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be on, off or auto, got {raw!r}")


def wants_compression(settings: SinkSettings) -> bool:
    """Whether the client compresses HTTP bodies: the setting, or (auto) unless the server
    is on a loopback address."""
    if settings.clickhouse_compress is not None:
        return settings.clickhouse_compress
    host = urlsplit(settings.clickhouse_url).hostname or "127.0.0.1"
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a DNS name: assume a network in between
        return True


def load_signer(settings: SinkSettings, home: Path | None = None) -> NoteSigner:
    """The checkpoint signer: ``PRIVTRAIL_CHECKPOINT_KEY``, else a development key kept in
    ``$PRIVTRAIL_HOME/checkpoint-signer.key`` (generated, mode 0600, on first use).

    A development key is fine for the local stack; production sets the variable from a secret
    store and publishes the verifier key (``privtrail verify --print-verifier-key``).
    """
    if settings.checkpoint_key is not None:
        return NoteSigner.from_key_string(settings.checkpoint_key.value)
    path = (home or privtrail_home()) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        signer_key, _ = NoteSigner.generate(DEFAULT_KEY_NAME)
        # O_EXCL: two sinks starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(signer_key + "\n")
    return NoteSigner.from_key_string(path.read_text().strip())


def load_verifiers(
    settings: SinkSettings, explicit: list[str] | None = None, home: Path | None = None
) -> list[NoteVerifier]:
    """Verifier keys: those given (``--verifier-key``), ``PRIVTRAIL_CHECKPOINT_VERIFIER_KEY``,
    or the public half of the configured signer."""
    keys = list(explicit or [])
    if not keys and settings.verifier_key:
        keys = [settings.verifier_key]
    if keys:
        return [NoteVerifier.from_key_string(k) for k in keys]
    return [load_signer(settings, home).verifier()]


def connect(settings: SinkSettings, role: str = "writer", **kwargs: Any) -> Any:
    """A clickhouse-connect client logged in as ``role`` (writer, admin or investigator)."""
    import clickhouse_connect  # server extra; imported late so settings stay light

    user: ClickHouseUser = getattr(settings, role)
    url = urlsplit(settings.clickhouse_url)
    kwargs.setdefault("compress", wants_compression(settings))
    return clickhouse_connect.get_client(
        host=url.hostname or "127.0.0.1",
        port=url.port or (8443 if url.scheme == "https" else 8123),
        secure=url.scheme == "https",
        username=user.name,
        password=user.password.value,
        **kwargs,
    )
