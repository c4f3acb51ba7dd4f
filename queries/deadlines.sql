-- Question: Which duties towards data subjects are open at an instant, when is each due, and
--   how many days are left (negative: overdue): access and correction requests not yet
--   fulfilled, earlier recipients not yet told of a correction, and items that must be
--   destroyed (after a withdrawal, or once their retention period ran out)?
-- Duty: PIPA 제35조 ③ / 시행령 제41조 ④ (access, 10 days), 제36조 ② / 시행령 제43조 ③
--   (correction, 10 days), COLABOX §7.2 (notify recipients), 제21조 and COLABOX §5, §6
--   (destruction 지체 없이, read as 5 days).
-- Param as_of: DateTime64(6, 'UTC') -- the instant the deadlines are judged at
-- Param from: DateTime64(6, 'UTC') -- only clocks started at or after this instant
-- Param to: DateTime64(6, 'UTC') -- only clocks started before this instant
-- Param access_days: UInt32 [policy] -- days allowed to fulfil an access request
-- Param correction_days: UInt32 [policy] -- days allowed to complete a correction
-- Param notify_days: UInt32 [policy] -- days allowed to notify earlier recipients
-- Param grace_days: UInt32 [policy] -- days allowed to destroy once destruction is due
-- Param retention_items: Array(String) [policy] -- record items that have a retention period
-- Param retention_months: Array(UInt32) [policy] -- their periods in months, in the same order
--
-- A clock starts at the request, at the correction (notify), at the withdrawal, or at the
-- collection (retention; listed only once the retention period has run out). Retention
-- uses calendar months: addMonths clamps a missing day to the month's last day, as the
-- policy does.
WITH
    {as_of:DateTime64(6, 'UTC')} AS t,
    (item) -> {retention_months:Array(UInt32)}[indexOf({retention_items:Array(String)}, item)]
        AS months_of,
    requests AS
    (
        SELECT
            subject_id,
            request_id,
            minIf(occurred_at, type IN ('access_requested', 'correction_requested')) AS started_at,
            if(countIf(type = 'access_requested') > 0, 'access', 'correction') AS duty,
            anyIf(items, type = 'correction_requested') AS asked_items,
            countIf(type IN ('access_fulfilled', 'corrected')) > 0 AS done,
            minIf(occurred_at, type = 'corrected') AS corrected_at
        FROM privtrail.events
        -- A request's later events come after it, so rows before `from` cannot matter.
        WHERE type IN ('access_requested', 'access_fulfilled', 'correction_requested', 'corrected')
            AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at <= t
        GROUP BY subject_id, request_id
        HAVING started_at >= {from:DateTime64(6, 'UTC')} AND started_at < {to:DateTime64(6, 'UTC')}
            AND countIf(type IN ('access_requested', 'correction_requested')) > 0
    ),
    retained AS
    (
        -- Record items with a retention period whose latest collection is in the period and
        -- whose period has run out, still held. Rows before `from` cannot change that (a
        -- collection in the period is later than any of them), so they are not read.
        SELECT subject_id, item, maxIf(occurred_at, type = 'collected') AS collected_at
        FROM privtrail.events
        ARRAY JOIN arrayFilter(i -> has({retention_items:Array(String)}, i), items) AS item
        WHERE type IN ('collected', 'destroyed')
            AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at <= t
        GROUP BY subject_id, item
        HAVING collected_at > maxIf(occurred_at, type = 'destroyed')
            AND collected_at < {to:DateTime64(6, 'UTC')}
            AND addMonths(collected_at, months_of(item)) <= t
    ),
    withdrawals AS
    (
        SELECT subject_id, min(occurred_at) AS withdrawn_at
        FROM privtrail.events
        WHERE type = 'withdrawal_requested' AND occurred_at <= t
        GROUP BY subject_id
        HAVING withdrawn_at >= {from:DateTime64(6, 'UTC')} AND withdrawn_at < {to:DateTime64(6, 'UTC')}
    ),
    held_after_withdrawal AS
    (
        -- Items without a retention period still held by subjects who withdrew: a primary-key
        -- read of those subjects only.
        SELECT subject_id, item
        FROM privtrail.events
        ARRAY JOIN arrayFilter(i -> NOT has({retention_items:Array(String)}, i), items) AS item
        WHERE type IN ('collected', 'destroyed') AND occurred_at <= t
            AND subject_id IN (SELECT subject_id FROM withdrawals)
        GROUP BY subject_id, item
        HAVING maxIf(occurred_at, type = 'collected') > maxIf(occurred_at, type = 'destroyed')
    ),
    duties AS
    (
        SELECT duty, subject_id, request_id AS ref, '' AS recipient, started_at,
            started_at + toIntervalDay(if(duty = 'access', {access_days:UInt32},
                                          {correction_days:UInt32})) AS due_at
        FROM requests
        WHERE NOT done

        UNION ALL
        SELECT 'notify', c.subject_id, c.request_id, r.recipient, c.corrected_at,
            c.corrected_at + toIntervalDay({notify_days:UInt32})
        FROM requests AS c
        INNER JOIN
        (
            SELECT subject_id, recipient, items, occurred_at
            FROM privtrail.events
            WHERE type = 'disclosed' AND occurred_at <= t
                -- Subjects with a correction in the period, read without re-running `requests`.
                AND subject_id IN
                (
                    SELECT subject_id FROM privtrail.events
                    WHERE type = 'corrected'
                        AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at <= t
                )
        ) AS r ON r.subject_id = c.subject_id
        WHERE c.duty = 'correction' AND c.done
            AND r.occurred_at < c.corrected_at AND hasAny(r.items, c.asked_items)
            AND (c.subject_id, c.request_id, r.recipient) NOT IN
            (
                SELECT subject_id, request_id, recipient
                FROM privtrail.events
                WHERE type = 'recipient_notified'
                    AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at <= t
            )
        GROUP BY c.subject_id, c.request_id, r.recipient, c.corrected_at

        UNION ALL
        SELECT 'destroy_after_withdrawal', h.subject_id, h.item, '', w.withdrawn_at,
            w.withdrawn_at + toIntervalDay({grace_days:UInt32})
        FROM held_after_withdrawal AS h
        INNER JOIN withdrawals AS w ON w.subject_id = h.subject_id

        UNION ALL
        SELECT 'destroy_after_retention', subject_id, item, '', collected_at,
            addMonths(collected_at, months_of(item)) + toIntervalDay({grace_days:UInt32})
        FROM retained
    )
SELECT
    duty,
    subject_id,
    ref,
    recipient,
    started_at,
    due_at,
    toInt64(floor(dateDiff('second', t, due_at) / 86400)) AS days_left,
    if(due_at < t, 'overdue', 'open') AS status
FROM duties
ORDER BY due_at, duty, subject_id, ref, recipient
