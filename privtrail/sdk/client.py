"""The blocking audit client: ``AuditClient``.

Typical use::

    from privtrail.sdk import AuditClient, staff

    with AuditClient.from_env() as audit:
        audit.used(customer_id, items=["phone"], purpose="user_management",
                   operation="view", actor=staff("agent-7"))

A call validates the event (contract, vocabulary, personal values), pseudonymises the
subject, encodes the event and enqueues it; a background thread sends it. See docs/sdk.md.
"""

from __future__ import annotations

import atexit
import json
import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from privtrail.errors import ContractError
from privtrail.events import BaseEvent, Source, contract_error, parse_event
from privtrail.sdk.builder import EventBuilder, OnInvalid, Subject, VocabularyPolicy
from privtrail.sdk.delivery import Delivery
from privtrail.sdk.errors import SdkConfigError, SpoolFullError
from privtrail.sdk.methods import EventMethods
from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.process_delivery import ProcessDelivery
from privtrail.sdk.producer import build_producer
from privtrail.sdk.pseudonym import Pseudonymiser, parse_key
from privtrail.sdk.settings import (
    DEFAULT_TOPIC,
    DeliveryOptions,
    SdkSettings,
    default_spool_dir,
)
from privtrail.sdk.shipper import ShipperConfig
from privtrail.sdk.spool import Spool


def _pseudonymiser(
    key: bytes | str | Pseudonymiser | None, key_id: str | None, dev_mode: bool
) -> Pseudonymiser:
    if isinstance(key, Pseudonymiser):
        return key
    if key is None:
        if dev_mode:
            return Pseudonymiser.dev()
        raise SdkConfigError(
            "pseudonym_key",
            "required (or dev_mode=True for local development only): the SDK never sends "
            "raw subject identifiers",
        )
    raw = parse_key(key, setting="pseudonym_key") if isinstance(key, str) else key
    if not key_id:
        raise SdkConfigError("pseudonym_key_id", "required together with pseudonym_key")
    return Pseudonymiser(key=raw, key_id=key_id)


def shipper_config(
    bootstrap: str, topic: str, spool_dir: Path, producer: dict[str, Any], opts: DeliveryOptions
) -> ShipperConfig:
    """What a shipper process needs; the producer settings must survive JSON."""
    for name, value in producer.items():
        try:
            json.dumps(value)
        except TypeError as exc:
            raise SdkConfigError(
                f"producer_config.{name}",
                "process delivery passes producer settings to the shipper as JSON; "
                f"{type(value).__name__} is not JSON",
            ) from exc
    return ShipperConfig(
        bootstrap=bootstrap,
        topic=topic,
        spool_dir=str(spool_dir),
        producer_config=producer,
        broker_timeout=opts.broker_timeout,
        fsync=opts.spool_fsync,
        fsync_interval=opts.spool_fsync_interval,
    )


def _count_into(counter: Any) -> Callable[[int], None]:
    # not a lambda over self: the spool must not keep the client alive
    def count(_discarded: int) -> None:
        counter.inc()

    return count


class AuditClient(EventMethods[str]):
    """Emits audit events; every per-type method returns the event's ``event_id``."""

    def __init__(
        self,
        *,
        bootstrap: str,
        service: str,
        instance: str | None = None,
        topic: str = DEFAULT_TOPIC,
        policy: VocabularyPolicy | None = None,
        spool_dir: str | Path | None = None,
        pseudonym_key: bytes | str | Pseudonymiser | None = None,
        pseudonym_key_id: str | None = None,
        dev_mode: bool = False,
        on_invalid: OnInvalid = "raise",
        producer_config: Mapping[str, Any] | None = None,
        options: DeliveryOptions | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if on_invalid not in ("raise", "warn"):
            raise SdkConfigError("on_invalid", "must be 'raise' or 'warn'")
        if not bootstrap:
            raise SdkConfigError("bootstrap", "required (host:port[,host:port])")
        opts = options or DeliveryOptions()
        if policy is None:
            from privtrail.policy import default_policy

            policy = default_policy()
        from privtrail.wire import encode_event

        self.service = service
        self.topic = topic
        self.metrics = SdkMetrics(service, registry)
        try:
            source = Source(service=service, instance=instance)
        except ValidationError as exc:
            err = contract_error(exc)
            raise SdkConfigError(err.field, err.reason) from exc
        self._builder = EventBuilder(
            source=source,
            pseudonymiser=_pseudonymiser(pseudonym_key, pseudonym_key_id, dev_mode),
            policy=policy,
            metrics=self.metrics,
            encoder=encode_event,
            on_invalid=on_invalid,
        )
        self.spool_dir = Path(spool_dir) if spool_dir else default_spool_dir(service, instance)
        spool = Spool(
            self.spool_dir,
            max_bytes=opts.spool_max_bytes,
            segment_bytes=opts.spool_segment_bytes,
            fsync=opts.spool_fsync,
            fsync_interval=opts.spool_fsync_interval,
            on_corrupt=_count_into(self.metrics.failed),
            sync_rolls=opts.delivery == "thread",  # process: the shipper's syncer does it
        )
        # every call waits for the disk: an fsync per append (process delivery, "always")
        self.fsyncs_each_call = opts.delivery == "process" and opts.spool_fsync == "always"
        config = dict(producer_config or {})
        self._delivery: Delivery | ProcessDelivery
        if opts.delivery == "process":
            self._delivery = ProcessDelivery(
                config=shipper_config(bootstrap, topic, self.spool_dir, config, opts),
                spool=spool,
                metrics=self.metrics,
            )
        else:
            self._delivery = Delivery(
                producer_factory=lambda: build_producer(bootstrap, config),
                topic=topic,
                spool=spool,
                metrics=self.metrics,
                queue_size=opts.queue_size,
                broker_timeout=opts.broker_timeout,
            )
        self._delivery.start()
        # A service that forgets close() must not lose what is queued: close at exit (the
        # handler holds only a weak reference, so it does not keep the client alive).
        ref = weakref.ref(self)

        def close_at_exit() -> None:
            client = ref()
            if client is not None:
                client.close(timeout=5.0)

        self._close_at_exit = close_at_exit
        atexit.register(close_at_exit)

    # -- presets ---------------------------------------------------------------------------
    @classmethod
    def from_settings(
        cls,
        settings: SdkSettings,
        *,
        policy: VocabularyPolicy | None = None,
        registry: CollectorRegistry | None = None,
        producer_config: Mapping[str, Any] | None = None,
        pseudonymiser: Pseudonymiser | None = None,
    ) -> AuditClient:
        """A client configured by :class:`SdkSettings`; ``producer_config`` adds to TLS/SASL,
        ``pseudonymiser`` replaces the settings' key."""
        if policy is None and settings.policy_path is not None:
            from privtrail.policy import load_policy

            policy = load_policy(settings.policy_path)
        return cls(
            bootstrap=settings.bootstrap,
            service=settings.service,
            instance=settings.instance,
            topic=settings.topic,
            policy=policy,
            spool_dir=settings.resolved_spool_dir(),
            pseudonym_key=pseudonymiser or settings.pseudonymiser(),
            dev_mode=settings.dev_mode,
            on_invalid=settings.on_invalid,
            producer_config={**settings.producer_config(), **dict(producer_config or {})},
            options=DeliveryOptions.from_settings(settings),
            registry=registry,
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        policy: VocabularyPolicy | None = None,
        registry: CollectorRegistry | None = None,
        producer_config: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> AuditClient:
        """A client from ``PRIVTRAIL_*`` variables (see docs/sdk.md); ``overrides`` win."""
        settings = SdkSettings.from_env(os.environ if env is None else env, **overrides)
        return cls.from_settings(
            settings, policy=policy, registry=registry, producer_config=producer_config
        )

    # -- emitting ----------------------------------------------------------------------------
    def _record(
        self,
        event_type: str,
        subject: Subject | None,
        fields: dict[str, Any],
        common: Mapping[str, Any],
    ) -> str:
        return self._submit(self.build(event_type, subject, fields, common))

    def build(
        self,
        event_type: str,
        subject: Subject | None,
        fields: dict[str, Any],
        common: Mapping[str, Any],
    ) -> BaseEvent:
        """Validate without sending: the typed event a method call would emit."""
        event = self._builder.build(event_type, subject, fields, **common)
        self._builder.check(event)
        return event

    def emit(self, event: BaseEvent) -> str:
        """Send an already-built typed event (its ``subject_id`` must be a pseudonym)."""
        if not isinstance(event, BaseEvent):
            raise ContractError("", f"expected a typed event, not {type(event).__name__}")
        try:
            # re-validated: a model_construct()ed event would otherwise skip the contract
            event = parse_event(event.to_json())
        except ContractError:
            self.metrics.refused("contract")
            raise
        self._builder.check(event)
        return self._submit(event)

    def emit_json(self, data: Mapping[str, Any], *, pseudonymise: bool = False) -> str:
        """Send a JSON-form event. Its ``subject_id`` is taken as a pseudonym already,
        unless ``pseudonymise`` (then it is the raw identifier, replaced here)."""
        obj = dict(data)
        if pseudonymise and isinstance(obj.get("subject_id"), str):
            pseudo = self._builder.pseudonymiser.pseudonymise(obj["subject_id"])
            obj["subject_id"], obj["subject_key_id"] = pseudo.value, pseudo.key_id
        try:
            event = parse_event(obj)
        except ContractError:
            self.metrics.refused("contract")
            raise
        return self.emit(event)

    def _submit(self, event: BaseEvent) -> str:
        """Encode and enqueue a checked event (the one path every emit goes through)."""
        key, value = self._builder.encode(event)
        try:
            self._delivery.submit(key, value)
        except SpoolFullError:
            self.metrics.refused("spool_full")
            raise
        return event.event_id

    def pseudonym(self, subject: str) -> str:
        """The pseudonym this client would record for ``subject``."""
        return self._builder.pseudonymiser.pseudonym(subject)

    # -- state and lifecycle -------------------------------------------------------------------
    @property
    def spooling(self) -> bool:
        """True while new events go to the local spool (broker lost or queue overflow)."""
        return self._delivery.spooling

    @property
    def broker_up(self) -> bool:
        return self._delivery.broker.up

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event so far is acknowledged by the broker; False on timeout
        (nothing is lost then: what is not acknowledged is queued or spooled)."""
        return self._delivery.flush(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what is queued (up to ``timeout``), spool the rest, release the spool.

        Returns True when everything was acknowledged. Safe to call twice.
        """
        atexit.unregister(self._close_at_exit)
        return self._delivery.close(timeout)

    def __enter__(self) -> AuditClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
