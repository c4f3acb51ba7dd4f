"""Prometheus metrics of one sink, in a registry of its own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class SinkMetrics:
    """What operators watch: is ClickHouse up, how far behind are we, how fast do we land."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.clickhouse_up = Gauge(
            "privtrail_sink_clickhouse_up",
            "1 while ClickHouse accepts inserts, 0 during an outage (consumption paused)",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "privtrail_sink_consumer_lag",
            "Records in Kafka not yet landed in ClickHouse (log end offset - next offset)",
            ["topic", "partition"],
            registry=r,
        )
        self.rows = Counter(
            "privtrail_sink_rows", "Rows inserted into ClickHouse", ["table"], registry=r
        )
        self.insert_seconds = Histogram(
            "privtrail_sink_insert_seconds", "Duration of one acknowledged insert", registry=r
        )
        self.insert_failures = Counter(
            "privtrail_sink_insert_failures", "Inserts that failed and were retried", registry=r
        )
        self.skipped = Counter(
            "privtrail_sink_skipped_records",
            "Redelivered records skipped because ClickHouse already holds them",
            registry=r,
        )
        self.duplicates = Counter(
            "privtrail_sink_duplicate_events",
            "Re-forwarded copies of an event (same event_id) dropped before they became a leaf",
            registry=r,
        )
        self.tree_size = Gauge(
            "privtrail_sink_tree_size", "Leaves in a partition's Merkle tree",
            ["topic", "partition"], registry=r,
        )  # fmt: skip
        self.checkpoints = Counter(
            "privtrail_sink_checkpoints", "Signed checkpoints written", registry=r
        )
        self.clickhouse_up.set(1)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` on ``addr:port`` (a daemon thread)."""
        start_http_server(port, addr=addr, registry=self.registry)
