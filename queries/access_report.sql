-- Question: What must we tell a data subject who asks for access: how their data was
--   collected, used and provided to whom, what they consented to, and what was archived or
--   destroyed, each fact citing the event (and its place in the tamper-evident log) it
--   comes from?
-- Duty: PIPA 제35조 and 시행령 제41조 (access within 10 days); COLABOX §7.5 (보유 개인정보,
--   이용·제3자 제공 현황, 동의 현황). `privtrail report access` renders it with the state
--   from subject_state_as_of and attaches an inclusion proof for every cited event.
-- Param subject: String -- the subject's pseudonym
-- Param as_of: DateTime64(6, 'UTC') -- report the history up to this instant (inclusive)
--
-- Staff are named by role, not by their staff id: the subject is owed what was done and by
-- whom in the organisation, not the employee's identity.
SELECT
    multiIf(
        type = 'collected', 'collection',
        type = 'used', 'use',
        type = 'disclosed', 'provision',
        type IN ('consent_given', 'consent_withdrawn'), 'consent',
        type IN ('archived', 'destroyed'), 'retention',
        'request') AS section,
    occurred_at,
    event_id,
    type,
    items,
    if(type = 'collected', purposes, if(purpose = '', [], [purpose])) AS purposes,
    multiIf(
        type = 'disclosed', recipient,
        actor_kind = 'staff', concat('staff:', actor_role),
        concat(actor_kind, ':', actor_id)) AS party,
    multiIf(type = 'disclosed', basis, type = 'used', operation,
            type IN ('consent_given', 'consent_withdrawn'), scope,
            type = 'collected', context, type = 'destroyed', method, request_id) AS detail,
    legal_reference,
    log_topic,
    log_partition,
    leaf_index,
    lower(hex(leaf_hash)) AS leaf_hash
FROM privtrail.events
WHERE subject_id = {subject:String} AND occurred_at <= {as_of:DateTime64(6, 'UTC')}
ORDER BY
    indexOf(['collection', 'use', 'provision', 'consent', 'retention', 'request'], section),
    occurred_at,
    event_id
