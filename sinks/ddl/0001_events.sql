-- The audit history: one row per valid event, append-only, tamper-evident.
--
-- Typed columns serve the investigations; event_json keeps the whole event in its canonical
-- JSON form (sorted keys, compact, UTF-8) so nothing in the contract is lost and every Merkle
-- leaf can be recomputed as SHA-256(0x00 || event_json). Optional fields absent from the
-- event are stored as '' / [] / NULL: the contract forbids empty strings, so '' means absent.
--
-- No TTL: rows are kept indefinitely, which satisfies the two-year minimum for access
-- records, and deleting a prefix would break the Merkle trees `privtrail verify` recomputes.
CREATE TABLE IF NOT EXISTS privtrail.events
(
    event_id        String,
    type            LowCardinality(String),
    occurred_at     DateTime64(6, 'UTC'),
    service         LowCardinality(String),
    instance        String,
    actor_kind      LowCardinality(String),
    actor_id        String,
    actor_role      LowCardinality(String),
    actor_ip        String,
    subject_id      String,
    subject_key_id  LowCardinality(String),
    policy_version  LowCardinality(String),
    items           Array(LowCardinality(String)),
    purposes        Array(LowCardinality(String)),
    purpose         LowCardinality(String),
    context         LowCardinality(String),
    method          LowCardinality(String),
    operation       LowCardinality(String),
    recipient       LowCardinality(String),
    basis           LowCardinality(String),
    legal_reference String,
    scope           LowCardinality(String),
    request_id      String,
    channel         LowCardinality(String),
    verified_as     LowCardinality(String),
    reason          String,
    handler_id      String,
    role            LowCardinality(String),
    significant     Nullable(Bool),
    announced_at    Nullable(DateTime64(6, 'UTC')),
    effective_at    Nullable(DateTime64(6, 'UTC')),
    event_json      String CODEC(ZSTD(3)),
    -- Merkle log coordinates: one tree per partition of the valid-events topic.
    log_topic       LowCardinality(String),
    log_partition   UInt32,
    leaf_index      UInt64,
    leaf_hash       FixedString(32),
    -- Ingest metadata (not covered by the leaf: it describes the copy, not the event).
    kafka_offset    UInt64,
    ingested_at     DateTime64(6, 'UTC'),
    INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_actor_id actor_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_recipient recipient TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_leaf_index leaf_index TYPE minmax GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (subject_id, occurred_at, event_id)
-- A re-sent insert with the same insert_deduplication_token is dropped.
SETTINGS non_replicated_deduplication_window = 10000;
