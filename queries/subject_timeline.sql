-- Question: What happened to one subject's data, in order: who did what, for which purpose,
--   to which recipient, and which alerts each event raised?
-- Duty: PIPA 제35조 (right of access) and COLABOX §7.5 (이용·제공 현황); the first query of
--   every dispute.
-- Param subject: String -- the subject's pseudonym
--
-- The events table is ordered by (subject_id, occurred_at, ...), so this is a range read.
-- Alerts are ordered by rule, so they are filtered on subject_id before the join.
SELECT
    e.occurred_at AS occurred_at,
    e.event_id AS event_id,
    e.type AS type,
    e.actor_kind AS actor_kind,
    e.actor_id AS actor_id,
    e.service AS service,
    e.items AS items,
    if(e.type = 'collected', e.purposes, if(e.purpose = '', [], [e.purpose])) AS purposes,
    e.operation AS operation,
    e.recipient AS recipient,
    e.basis AS basis,
    e.request_id AS request_id,
    e.scope AS scope,
    a.rules AS alerts
FROM privtrail.events AS e
LEFT JOIN
(
    SELECT event_id, arraySort(groupUniqArray(rule)) AS rules
    FROM privtrail.alerts
    WHERE subject_id = {subject:String}
    GROUP BY event_id
) AS a ON a.event_id = e.event_id
WHERE e.subject_id = {subject:String}
ORDER BY e.occurred_at, e.event_id
