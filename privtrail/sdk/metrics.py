"""Prometheus metrics of the SDK, on a registry the service chooses.

Metrics are created once per registry and shared by every client on it (registering the
same name twice raises in prometheus-client); the ``service`` label tells clients apart.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


@dataclass(frozen=True, slots=True)
class _Family:
    sent: Counter
    spooled: Counter
    replayed: Counter
    refused: Counter
    failed: Counter
    spool_full: Counter
    queue_depth: Gauge
    spool_bytes: Gauge
    broker_up: Gauge


_FAMILIES: weakref.WeakKeyDictionary[CollectorRegistry, _Family] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _family(registry: CollectorRegistry) -> _Family:
    with _LOCK:
        family = _FAMILIES.get(registry)
        if family is None:
            labels = ["service"]
            family = _Family(
                sent=Counter(
                    "privtrail_sdk_events_sent",
                    "Events acknowledged by the broker (first attempt)",
                    labels,
                    registry=registry,
                ),
                spooled=Counter(
                    "privtrail_sdk_events_spooled",
                    "Events written to the local spool",
                    labels,
                    registry=registry,
                ),
                replayed=Counter(
                    "privtrail_sdk_events_replayed",
                    "Spooled events acknowledged by the broker",
                    labels,
                    registry=registry,
                ),
                refused=Counter(
                    "privtrail_sdk_events_refused",
                    "Events refused at the call site (contract, vocabulary, spool full)",
                    labels + ["reason"],
                    registry=registry,
                ),
                failed=Counter(
                    "privtrail_sdk_events_failed",
                    "Send attempts that failed (the event is "
                    "spooled and retried) or spool records found corrupt",
                    labels,
                    registry=registry,
                ),
                spool_full=Counter(
                    "privtrail_sdk_spool_full",
                    "Times the spool refused a record for size",
                    labels,
                    registry=registry,
                ),
                queue_depth=Gauge(
                    "privtrail_sdk_queue_depth",
                    "Events in the in-memory queue",
                    labels,
                    registry=registry,
                ),
                spool_bytes=Gauge(
                    "privtrail_sdk_spool_bytes",
                    "Bytes in the local spool",
                    labels,
                    registry=registry,
                ),
                broker_up=Gauge(
                    "privtrail_sdk_broker_up",
                    "1 while the broker acknowledges sends",
                    labels,
                    registry=registry,
                ),
            )
            _FAMILIES[registry] = family
        return family


class SdkMetrics:
    """The metrics of one client (one ``service`` label value)."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        fam = _family(registry if registry is not None else REGISTRY)
        self._fam = fam
        self.sent = fam.sent.labels(service=service)
        self.spooled = fam.spooled.labels(service=service)
        self.replayed = fam.replayed.labels(service=service)
        self.failed = fam.failed.labels(service=service)
        self.spool_full = fam.spool_full.labels(service=service)
        self.queue_depth = fam.queue_depth.labels(service=service)
        self.spool_bytes = fam.spool_bytes.labels(service=service)
        self.broker_up = fam.broker_up.labels(service=service)
        self._service = service

    def refused(self, reason: str) -> None:
        """Count one refused event; ``reason`` is contract | vocabulary | spool_full."""
        self._fam.refused.labels(service=self._service, reason=reason).inc()
