"""Every environment variable the SDK reads, read here and only here.

A plain pydantic model (no pydantic-settings): :meth:`SdkSettings.from_env` maps the
``PRIVTRAIL_*`` variables onto fields, and the model validates them, so a bad value fails
at start-up with the variable's name. Secrets are ``SecretStr`` and never show in reprs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from privtrail.config import Topics, privtrail_home
from privtrail.sdk.errors import SdkConfigError
from privtrail.sdk.pseudonym import Pseudonymiser, parse_key

FsyncPolicy = Literal["always", "interval", "never"]
OnInvalid = Literal["raise", "warn"]
DeliveryMode = Literal["thread", "process"]

# field name -> environment variable (documented in docs/sdk.md; keep both in step)
ENV: dict[str, str] = {
    "bootstrap": "PRIVTRAIL_BOOTSTRAP_SERVERS",
    "service": "PRIVTRAIL_SERVICE",
    "instance": "PRIVTRAIL_INSTANCE",
    "topic": "PRIVTRAIL_TOPIC_EVENTS",
    "policy_path": "PRIVTRAIL_POLICY",
    "on_invalid": "PRIVTRAIL_SDK_ON_INVALID",
    "pseudonym_key": "PRIVTRAIL_PSEUDONYM_KEY",
    "pseudonym_key_id": "PRIVTRAIL_PSEUDONYM_KEY_ID",
    "dev_mode": "PRIVTRAIL_SDK_DEV_MODE",
    "delivery": "PRIVTRAIL_SDK_DELIVERY",
    "queue_size": "PRIVTRAIL_SDK_QUEUE_SIZE",
    "broker_timeout_ms": "PRIVTRAIL_SDK_BROKER_TIMEOUT_MS",
    "spool_dir": "PRIVTRAIL_SPOOL_DIR",
    "spool_max_bytes": "PRIVTRAIL_SPOOL_MAX_BYTES",
    "spool_segment_bytes": "PRIVTRAIL_SPOOL_SEGMENT_BYTES",
    "spool_fsync": "PRIVTRAIL_SPOOL_FSYNC",
    "spool_fsync_interval_ms": "PRIVTRAIL_SPOOL_FSYNC_INTERVAL_MS",
    "security_protocol": "PRIVTRAIL_KAFKA_SECURITY_PROTOCOL",
    "ssl_cafile": "PRIVTRAIL_KAFKA_SSL_CAFILE",
    "ssl_certfile": "PRIVTRAIL_KAFKA_SSL_CERTFILE",
    "ssl_keyfile": "PRIVTRAIL_KAFKA_SSL_KEYFILE",
    "sasl_mechanism": "PRIVTRAIL_KAFKA_SASL_MECHANISM",
    "sasl_username": "PRIVTRAIL_KAFKA_SASL_USERNAME",
    "sasl_password": "PRIVTRAIL_KAFKA_SASL_PASSWORD",
}

_TRUE = {"1", "true", "yes", "on"}
DEFAULT_TOPIC = Topics().events


def default_spool_dir(service: str, instance: str | None) -> Path:
    """``$PRIVTRAIL_HOME/spool/<service>[-<instance>]``: one directory per process role."""
    name = service if not instance else f"{service}-{instance}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return privtrail_home() / "spool" / safe


class SdkSettings(BaseModel):
    """Everything an :class:`~privtrail.sdk.client.AuditClient` can be configured with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap: str = Field(description="Kafka bootstrap servers, comma-separated host:port")
    service: str = Field(min_length=1, description="Logical name of the emitting service")
    instance: str | None = Field(default=None, description="Host, pod or process id")
    topic: str = Field(default=DEFAULT_TOPIC, description="Topic the events go to")
    policy_path: Path | None = Field(
        default=None, description="Policy file for vocabulary checks (default: bundled)"
    )
    on_invalid: OnInvalid = Field(
        default="raise", description="Unknown vocabulary terms: raise, or warn and send"
    )
    pseudonym_key: SecretStr | None = Field(
        default=None, description="HMAC key for subject pseudonyms (hex or base64)"
    )
    pseudonym_key_id: str | None = Field(default=None, description="Id recorded with the key")
    dev_mode: bool = Field(
        default=False, description="Allow running without a key (insecure published dev key)"
    )
    delivery: DeliveryMode = Field(
        default="process",
        description="thread: a sender thread in the service; process: a shipper process "
        "sends the spool (lowest caller latency)",
    )
    queue_size: int = Field(default=100_000, ge=1, description="In-memory queue bound")
    broker_timeout_ms: int = Field(
        default=5_000,
        ge=100,
        description="An unacknowledged send older than this marks the broker lost",
    )
    spool_dir: Path | None = Field(
        default=None, description="Spool directory (default $PRIVTRAIL_HOME/spool/<service>)"
    )
    spool_max_bytes: int = Field(default=1 << 30, ge=4096, description="Spool size bound")
    spool_segment_bytes: int = Field(
        default=16 << 20, ge=1024, description="Spool segment file size before rolling"
    )
    spool_fsync: FsyncPolicy = Field(default="interval", description="always|interval|never")
    spool_fsync_interval_ms: int = Field(default=200, ge=1, description="For fsync=interval")
    security_protocol: str | None = Field(default=None, description="PLAINTEXT, SSL, SASL_SSL")
    ssl_cafile: str | None = Field(default=None, description="CA bundle for TLS")
    ssl_certfile: str | None = Field(default=None, description="Client certificate for TLS")
    ssl_keyfile: str | None = Field(default=None, description="Client key for TLS")
    sasl_mechanism: str | None = Field(default=None, description="PLAIN, SCRAM-SHA-512, ...")
    sasl_username: str | None = Field(default=None, description="SASL user")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> SdkSettings:
        """Read ``PRIVTRAIL_*`` variables; keyword ``overrides`` win over the environment."""
        source = os.environ if env is None else env
        data: dict[str, Any] = {}
        for field, var in ENV.items():
            value = source.get(var)
            if value is None or value == "":
                continue
            data[field] = value.strip().lower() in _TRUE if field == "dev_mode" else value
        if "topic" not in data:
            data["topic"] = Topics.from_env().events if env is None else DEFAULT_TOPIC
        data.update({k: v for k, v in overrides.items() if v is not None})
        for required in ("bootstrap", "service"):
            if required not in data:
                raise SdkConfigError(ENV[required], "not set")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else ""
            raise SdkConfigError(ENV.get(field, field), str(err["msg"])) from exc

    def pseudonymiser(self) -> Pseudonymiser:
        """The configured pseudonymiser; refuses to run without a key unless in dev mode."""
        if self.pseudonym_key is None:
            if self.dev_mode:
                return Pseudonymiser.dev()
            raise SdkConfigError(
                ENV["pseudonym_key"],
                "not set; the SDK refuses to send raw subject ids. Set a key (32 random bytes, "
                f"hex or base64) and {ENV['pseudonym_key_id']}, or {ENV['dev_mode']}=1 for "
                "local development only",
            )
        key = parse_key(self.pseudonym_key.get_secret_value(), setting=ENV["pseudonym_key"])
        if not self.pseudonym_key_id:
            raise SdkConfigError(ENV["pseudonym_key_id"], "required together with the key")
        return Pseudonymiser(key=key, key_id=self.pseudonym_key_id)

    def resolved_spool_dir(self) -> Path:
        return self.spool_dir or default_spool_dir(self.service, self.instance)

    def producer_config(self) -> dict[str, Any]:
        """TLS / SASL options in kafka-python's names; unset ones are left out."""
        out: dict[str, Any] = {}
        for name in ("security_protocol", "ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.sasl_mechanism:
            out["sasl_mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            out["sasl_plain_username"] = self.sasl_username
        if self.sasl_password is not None:
            out["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return out


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """Queue, broker-loss and spool tuning (defaults suit most services)."""

    delivery: DeliveryMode = "process"
    queue_size: int = 100_000
    broker_timeout: float = 5.0
    spool_max_bytes: int = 1 << 30
    spool_segment_bytes: int = 16 << 20
    spool_fsync: FsyncPolicy = "interval"
    spool_fsync_interval: float = 0.2

    def __post_init__(self) -> None:
        if self.delivery not in ("thread", "process"):
            raise SdkConfigError("delivery", "must be thread or process")
        if self.queue_size < 1:
            raise SdkConfigError("queue_size", "must be at least 1")
        if self.broker_timeout <= 0:
            raise SdkConfigError("broker_timeout", "must be positive")
        if self.spool_max_bytes < 4096:
            raise SdkConfigError("spool_max_bytes", "must be at least 4096")
        if self.spool_fsync not in ("always", "interval", "never"):
            raise SdkConfigError("spool_fsync", "must be always, interval or never")

    @classmethod
    def from_settings(cls, s: SdkSettings) -> DeliveryOptions:
        return cls(
            delivery=s.delivery,
            queue_size=s.queue_size,
            broker_timeout=s.broker_timeout_ms / 1000,
            spool_max_bytes=s.spool_max_bytes,
            spool_segment_bytes=s.spool_segment_bytes,
            spool_fsync=s.spool_fsync,
            spool_fsync_interval=s.spool_fsync_interval_ms / 1000,
        )
