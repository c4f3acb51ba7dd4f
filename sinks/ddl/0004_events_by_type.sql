-- A second physical order of the events, by type: the whole-history investigations
-- (retention_status, processing_register, correction_propagation, deadlines, disclosures,
-- violations, access_review) each read a few rare event types of every subject, which in
-- the main order (subject_id, occurred_at, event_id) touches every granule of the table.
--
-- A projection is part of the table, not a copy beside it: ClickHouse writes it with every
-- insert and every merge, in the same parts, so it holds exactly the rows of the table and
-- nothing can change it without rewriting those parts. The Merkle leaves (event_json) are
-- not in it: `privtrail verify` reads the table itself. The optimizer chooses it only when
-- it reads fewer granules, so per-subject queries keep using the primary key.
--
-- Ordered by type, then subject: one type's rows are contiguous, and within a type the
-- subject ids are sorted, which keeps them compressible (about 12% of the table on disk).
-- Only the columns those queries read: no event_json, no Merkle or ingest columns.
ALTER TABLE privtrail.events ADD PROJECTION IF NOT EXISTS events_by_type
(
    SELECT type, subject_id, occurred_at, request_id, items, purposes, purpose, context,
        recipient, basis, legal_reference, handler_id
    ORDER BY (type, subject_id, occurred_at)
);
-- Parts written before this migration get the projection too. This rewrites those parts
-- with the same rows plus the projection (no row is updated or deleted); it runs in the
-- background, and until a part has it, queries read that part in the main order.
ALTER TABLE privtrail.events MATERIALIZE PROJECTION events_by_type;
