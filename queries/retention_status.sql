-- Question: Per item type, how many records do we hold and how old are they, which are due
--   or overdue for destruction under the policy's retention periods, and how long were the
--   destroyed ones actually kept?
-- Duty: PIPA 제21조 (destruction when retention ends, 지체 없이) and COLABOX §5 (보유 및
--   이용기간), §6 (파기절차 및 방법); rule DESTRUCTION_OVERDUE.
-- Param as_of: DateTime64(6, 'UTC') -- the instant the records are judged at
-- Param from: DateTime64(6, 'UTC') -- only records first collected at or after this instant
-- Param to: DateTime64(6, 'UTC') -- only records first collected before this instant
-- Param retention_items: Array(String) [policy] -- record items with a retention period (§5)
-- Param retention_months: Array(UInt32) [policy] -- their periods in months, same order
-- Param grace_days: UInt32 [policy] -- days allowed to destroy once due (§6)
--
-- A record is one (subject, item). Its retention counts from its latest collection (a new
-- collection restarts it). due: retention over, still within the grace days; overdue: past
-- them. Items without a retention period (retention_months 0) are kept only while their
-- purpose lasts; their duties after a withdrawal are in `deadlines`.
WITH
    {as_of:DateTime64(6, 'UTC')} AS t,
    (item) -> {retention_months:Array(UInt32)}[indexOf({retention_items:Array(String)}, item)]
        AS months_of,
    records AS
    (
        -- Grouped on a 64-bit hash of (pseudonym, item): the subject itself is not shown, and
        -- one UInt64 key is far cheaper to group millions of records on than the string and
        -- the item (a collision among a history's records is vanishingly unlikely).
        SELECT
            cityHash64(subject_id, it) AS record,
            any(it) AS item,
            minIf(occurred_at, type = 'collected') AS first_collected_at,
            maxIf(occurred_at, type = 'collected') AS collected_at,
            maxIf(occurred_at, type = 'destroyed') AS destroyed_at
        FROM privtrail.events
        ARRAY JOIN items AS it
        WHERE type IN ('collected', 'destroyed') AND occurred_at <= t
        GROUP BY record
        HAVING countIf(type = 'collected') > 0
            AND first_collected_at >= {from:DateTime64(6, 'UTC')}
            AND first_collected_at < {to:DateTime64(6, 'UTC')}
    ),
    judged AS
    (
        SELECT
            item,
            collected_at > destroyed_at AS is_held,
            has({retention_items:Array(String)}, item) AS has_period,
            addMonths(collected_at, months_of(item)) AS expires_at,
            expires_at + toIntervalDay({grace_days:UInt32}) AS destroy_by,
            collected_at,
            destroyed_at
        FROM records
    )
SELECT
    item,
    months_of(item) AS retention_months,
    count() AS records,
    countIf(is_held) AS held,
    countIf(NOT is_held) AS destroyed,
    if(countIf(is_held) = 0, NULL, minIf(collected_at, is_held)) AS oldest_held_since,
    if(countIf(is_held) = 0, NULL, maxIf(dateDiff('day', collected_at, t), is_held))
        AS age_days_max,
    countIf(is_held AND has_period AND expires_at <= t AND t <= destroy_by) AS due,
    countIf(is_held AND has_period AND destroy_by < t) AS overdue,
    countIf(NOT is_held AND has_period AND destroyed_at > destroy_by) AS destroyed_late,
    if(countIf(NOT is_held) = 0, NULL, maxIf(dateDiff('day', collected_at, destroyed_at), NOT is_held))
        AS kept_days_max
FROM judged
GROUP BY item
ORDER BY item
