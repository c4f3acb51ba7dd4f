-- Question: For each correction, who had received the items it corrected before it was
--   made, and was each of them told, when, and within the deadline?
-- Duty: PIPA 제36조 and COLABOX §7.2 (잘못된 개인정보를 제3자에게 이미 제공한 경우 정정
--   처리결과를 제3자에게 지체 없이 통지); rule CORRECTION_NOT_PROPAGATED.
-- Param from: DateTime64(6, 'UTC') -- corrections requested at or after this instant
-- Param to: DateTime64(6, 'UTC') -- corrections requested before this instant
-- Param as_of: DateTime64(6, 'UTC') -- judge pending versus overdue notifications here
-- Param notify_days: UInt32 [policy] -- days allowed to notify after the correction
--
-- One row per (correction, recipient); a correction nobody had received gets one row with
-- an empty recipient. A still-open correction counts disclosures up to as_of. status:
-- notified, notified_late, pending (deadline not passed), overdue, not_corrected, or
-- no_recipients.
WITH
    {as_of:DateTime64(6, 'UTC')} AS t,
    corrections AS
    (
        SELECT
            subject_id,
            request_id,
            minIf(occurred_at, type = 'correction_requested') AS requested_at,
            anyIf(items, type = 'correction_requested') AS items,
            if(countIf(type = 'corrected') > 0, minIf(occurred_at, type = 'corrected'), NULL)
                AS corrected_at
        FROM privtrail.events
        WHERE type IN ('correction_requested', 'corrected') AND occurred_at <= t
        GROUP BY subject_id, request_id
        HAVING countIf(type = 'correction_requested') > 0
            AND requested_at >= {from:DateTime64(6, 'UTC')} AND requested_at < {to:DateTime64(6, 'UTC')}
    ),
    requested AS
    (
        -- Subjects who asked for a correction in the period: a superset of those in
        -- `corrections`, read without re-running its fold (a CTE runs once per use).
        SELECT subject_id
        FROM privtrail.events
        WHERE type = 'correction_requested'
            AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at < {to:DateTime64(6, 'UTC')}
    ),
    received AS
    (
        SELECT c.subject_id AS subject_id, c.request_id AS request_id, d.recipient AS recipient,
            arraySort(arrayDistinct(arrayFlatten(groupArray(arrayIntersect(d.items, c.items)))))
                AS items_received,
            max(d.occurred_at) AS last_received_at
        FROM corrections AS c
        INNER JOIN
        (
            SELECT subject_id, recipient, items, occurred_at
            FROM privtrail.events
            WHERE type = 'disclosed' AND occurred_at <= t
                AND subject_id IN (SELECT subject_id FROM requested)
        ) AS d ON d.subject_id = c.subject_id
        WHERE d.occurred_at < ifNull(c.corrected_at, t) AND hasAny(d.items, c.items)
        GROUP BY c.subject_id, c.request_id, d.recipient
    ),
    notices AS
    (
        SELECT subject_id, request_id, recipient, min(occurred_at) AS notified_at
        FROM privtrail.events
        WHERE type = 'recipient_notified' AND occurred_at <= t
            AND subject_id IN (SELECT subject_id FROM requested)
        GROUP BY subject_id, request_id, recipient
    )
SELECT
    c.subject_id AS subject_id,
    c.request_id AS request_id,
    c.items AS corrected_items,
    c.requested_at AS requested_at,
    c.corrected_at AS corrected_at,
    r.recipient AS recipient,
    r.items_received AS items_received,
    if(r.recipient = '', NULL, r.last_received_at) AS received_at,
    if(n.recipient = '', NULL, n.notified_at) AS notified_at,
    multiIf(
        r.recipient = '', 'no_recipients',
        c.corrected_at IS NULL, 'not_corrected',
        n.recipient != '' AND n.notified_at <= c.corrected_at + toIntervalDay({notify_days:UInt32}),
            'notified',
        n.recipient != '', 'notified_late',
        t <= c.corrected_at + toIntervalDay({notify_days:UInt32}), 'pending',
        'overdue') AS status
FROM corrections AS c
LEFT JOIN received AS r ON r.subject_id = c.subject_id AND r.request_id = c.request_id
LEFT JOIN notices AS n
    ON n.subject_id = c.subject_id AND n.request_id = c.request_id AND n.recipient = r.recipient
ORDER BY c.requested_at, c.subject_id, c.request_id, r.recipient
