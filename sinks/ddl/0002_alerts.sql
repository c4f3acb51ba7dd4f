-- Alerts raised by the rule engine, as published on privacy.alerts. Append-only; no TTL
-- (kept at least as long as the events they point at).
CREATE TABLE IF NOT EXISTS privtrail.alerts
(
    alert_id        String,
    rule            LowCardinality(String),
    severity        LowCardinality(String),
    event_id        String,
    subject_id      String,
    actor_id        String,
    occurred_at     DateTime64(6, 'UTC'),
    policy_version  LowCardinality(String),
    message         String,
    evidence_json   String,
    raised_at       DateTime64(6, 'UTC'),
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    ingested_at     DateTime64(6, 'UTC'),
    INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_actor_id actor_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (rule, occurred_at, alert_id)
SETTINGS non_replicated_deduplication_window = 10000;
