-- Question: For the monthly review of access records: per staff member, how many events and
--   distinct subjects they touched, their downloads and the reasons given, how much of it
--   happened outside working hours (09:00-18:00 KST on weekdays) or on weekends, and how
--   much while they held no handler authorisation?
-- Duty: 개인정보의 안전성 확보조치 기준 제8조 (access records kept and reviewed at least
--   monthly; reasons for downloads), PIPA 제29조; COLABOX §10.2 (처리 직원의 최소화).
-- Param from: DateTime64(6, 'UTC') -- start of the review period (inclusive)
-- Param to: DateTime64(6, 'UTC') -- end of the review period (exclusive)
--
-- Working hours are judged in Asia/Seoul, where COLABOX's staff work. An event is
-- unauthorised when the actor's latest handler_authorized / handler_revoked before it (ASOF
-- join over the whole history, not just the period) is not an authorisation.
-- Distinct subjects are counted on 64-bit hashes of the pseudonyms: the same count (a
-- collision among a month's subjects is vanishingly unlikely) for a fraction of the memory.
WITH
    accesses AS
    (
        SELECT occurred_at, actor_id, actor_role, subject_id, type, operation, reason,
            toTimeZone(occurred_at, 'Asia/Seoul') AS local_time
        FROM privtrail.events
        WHERE actor_kind = 'staff' AND subject_id != ''
            AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at < {to:DateTime64(6, 'UTC')}
    ),
    grants AS
    (
        SELECT handler_id, occurred_at, type
        FROM privtrail.events
        WHERE type IN ('handler_authorized', 'handler_revoked')
    )
SELECT
    a.actor_id AS actor_id,
    arraySort(groupUniqArray(a.actor_role)) AS roles,
    count() AS events,
    uniqExact(cityHash64(a.subject_id)) AS subjects,
    countIf(a.operation = 'download') AS downloads,
    countIf(a.operation = 'download' AND a.reason = '') AS downloads_without_reason,
    arraySort(groupUniqArrayIf(a.reason, a.operation = 'download' AND a.reason != ''))
        AS download_reasons,
    countIf(toDayOfWeek(a.local_time) <= 5
        AND (toHour(a.local_time) < 9 OR toHour(a.local_time) >= 18)) AS after_hours,
    countIf(toDayOfWeek(a.local_time) >= 6) AS weekend,
    countIf(g.type != 'handler_authorized') AS unauthorized,
    min(a.occurred_at) AS first_at,
    max(a.occurred_at) AS last_at
FROM accesses AS a
ASOF LEFT JOIN grants AS g ON g.handler_id = a.actor_id AND a.occurred_at >= g.occurred_at
GROUP BY a.actor_id
ORDER BY a.actor_id
