-- Signed checkpoints (C2SP tlog-checkpoint bodies in Ed25519 signed notes), one row per
-- partition tree per checkpoint. `note` is the exact signed text; the other columns are
-- copies of what it says, for querying.
CREATE TABLE IF NOT EXISTS privtrail.checkpoints
(
    origin          String,
    log_topic       LowCardinality(String),
    log_partition   UInt32,
    tree_size       UInt64,
    root_hash       FixedString(32),
    note            String,
    created_at      DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (log_topic, log_partition, tree_size, created_at)
SETTINGS non_replicated_deduplication_window = 10000;
