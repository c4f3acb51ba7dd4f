-- Question: Which rules were broken in a period, by which actor and service, how often and
--   for how many subjects; and for the deadline rules, is the duty still open or was it
--   met late (resolved)?
-- Duty: PIPA 제29조 (safety measures) and the rules of the COLABOX policy as code; the
--   summary a regulator asks for first.
-- Param from: DateTime64(6, 'UTC') -- start of the period, on the alert's event time (inclusive)
-- Param to: DateTime64(6, 'UTC') -- end of the period (exclusive)
-- Param as_of: DateTime64(6, 'UTC') -- judge open versus resolved deadlines at this instant
--
-- A deadline alert names the event that started the clock. It is resolved when the closing
-- event exists by as_of: access_fulfilled / corrected for the same request,
-- recipient_notified for the same request and recipient (evidence.recipient), or a later
-- destroyed of the subject covering the evidence's items. Other rules are n/a.
WITH
    raised AS
    (
        SELECT
            alert_id, rule, severity, event_id, subject_id, actor_id, occurred_at,
            JSONExtractString(evidence_json, 'recipient') AS ev_recipient,
            JSONExtract(evidence_json, 'items', 'Array(String)') AS ev_items,
            rule IN ('ACCESS_OVERDUE', 'CORRECTION_OVERDUE', 'CORRECTION_NOT_PROPAGATED',
                     'DESTRUCTION_OVERDUE') AS is_deadline
        FROM privtrail.alerts
        WHERE occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at < {to:DateTime64(6, 'UTC')}
    ),
    triggers AS
    (
        SELECT event_id, service, request_id
        FROM privtrail.events
        WHERE event_id IN (SELECT event_id FROM raised)
    ),
    closings AS
    (
        SELECT subject_id, type, request_id, recipient, items, occurred_at
        FROM privtrail.events
        WHERE type IN ('access_fulfilled', 'corrected', 'recipient_notified', 'destroyed')
            AND occurred_at <= {as_of:DateTime64(6, 'UTC')}
            AND subject_id IN (SELECT subject_id FROM raised WHERE is_deadline)
    ),
    judged AS
    (
        SELECT
            r.alert_id AS alert_id,
            any(r.rule) AS rule,
            any(r.severity) AS severity,
            any(r.event_id) AS event_id,
            any(r.subject_id) AS subject_id,
            any(r.actor_id) AS actor_id,
            any(r.occurred_at) AS occurred_at,
            any(t.service) AS service,
            any(r.is_deadline) AS is_deadline,
            countIf(
                (r.rule = 'ACCESS_OVERDUE' AND c.type = 'access_fulfilled'
                    AND c.request_id = t.request_id)
                OR (r.rule = 'CORRECTION_OVERDUE' AND c.type = 'corrected'
                    AND c.request_id = t.request_id)
                OR (r.rule = 'CORRECTION_NOT_PROPAGATED' AND c.type = 'recipient_notified'
                    AND c.request_id = t.request_id AND c.recipient = r.ev_recipient)
                OR (r.rule = 'DESTRUCTION_OVERDUE' AND c.type = 'destroyed'
                    AND c.occurred_at > r.occurred_at
                    AND (empty(r.ev_items) OR hasAll(c.items, r.ev_items)))
            ) > 0 AS closed
        FROM raised AS r
        LEFT JOIN triggers AS t ON t.event_id = r.event_id
        LEFT JOIN closings AS c ON c.subject_id = r.subject_id AND r.is_deadline
        GROUP BY r.alert_id
    )
SELECT
    rule,
    severity,
    service,
    actor_id,
    if(is_deadline, if(closed, 'resolved', 'open'), 'n/a') AS deadline,
    count() AS alerts,
    uniqExactIf(cityHash64(subject_id), subject_id != '') AS subjects,
    min(occurred_at) AS first_at,
    max(occurred_at) AS last_at,
    arraySort(groupArray(event_id)) AS event_ids
FROM judged
GROUP BY rule, severity, service, actor_id, deadline
ORDER BY rule, service, actor_id, deadline
