-- Question: What did we hold about one subject at a given instant: which items, for which
--   purposes, under which consents, who had received what, what was archived or destroyed,
--   and which of the subject's requests were still open?
-- Duty: PIPA 제35조 (access: the personal data held), 제21조 (destruction), 제22조 (consent);
--   COLABOX §5, §6, §7.5. Rebuilds the state from the history alone (event sourcing).
-- Param subject: String -- the subject's pseudonym
-- Param as_of: DateTime64(6, 'UTC') -- the instant to rebuild the state at (inclusive)
--
-- One row per fact: aspect (held, archived, destroyed, consent, received, open_access,
-- open_correction, withdrawal), term (item, scope, recipient or request id), detail and
-- since. An item is held when it was collected and not destroyed since (a later collection
-- makes it held again); its purposes are those declared by the collections since the last
-- destruction. An archived item is still held, in the separate store.
WITH
    history AS
    (
        SELECT occurred_at, type, items, purposes, recipient, scope, request_id
        FROM privtrail.events
        WHERE subject_id = {subject:String} AND occurred_at <= {as_of:DateTime64(6, 'UTC')}
    ),
    item_state AS
    (
        SELECT
            item,
            maxIf(occurred_at, type = 'collected') AS collected_at,
            maxIf(occurred_at, type = 'destroyed') AS destroyed_at,
            maxIf(occurred_at, type = 'archived') AS archived_at,
            groupArrayIf((occurred_at, purposes), type = 'collected') AS collections
        FROM history
        ARRAY JOIN items AS item
        WHERE type IN ('collected', 'destroyed', 'archived')
        GROUP BY item
    ),
    facts AS
    (
        SELECT
            if(archived_at > collected_at, 'archived', 'held') AS aspect,
            item AS term,
            arraySort(arrayDistinct(arrayFlatten(arrayMap(c -> c.2,
                arrayFilter(c -> c.1 > destroyed_at, collections))))) AS detail,
            if(archived_at > collected_at, archived_at, collected_at) AS since
        FROM item_state
        WHERE collected_at > destroyed_at

        UNION ALL
        SELECT 'destroyed', item, [], destroyed_at
        FROM item_state
        WHERE destroyed_at >= collected_at AND destroyed_at > 0

        UNION ALL
        SELECT 'consent', scope, [], max(occurred_at)
        FROM history
        WHERE type IN ('consent_given', 'consent_withdrawn')
        GROUP BY scope
        HAVING argMax(type, occurred_at) = 'consent_given'

        UNION ALL
        SELECT 'received', recipient, arraySort(groupUniqArrayArray(items)), min(occurred_at)
        FROM history
        WHERE type = 'disclosed'
        GROUP BY recipient

        UNION ALL
        SELECT 'open_access', request_id, [], minIf(occurred_at, type = 'access_requested')
        FROM history
        WHERE type IN ('access_requested', 'access_fulfilled')
        GROUP BY request_id
        HAVING countIf(type = 'access_fulfilled') = 0 AND countIf(type = 'access_requested') > 0

        UNION ALL
        SELECT
            'open_correction', request_id,
            arraySort(groupUniqArrayArray(items)), minIf(occurred_at, type = 'correction_requested')
        FROM history
        WHERE type IN ('correction_requested', 'corrected')
        GROUP BY request_id
        HAVING countIf(type = 'corrected') = 0 AND countIf(type = 'correction_requested') > 0

        UNION ALL
        SELECT 'withdrawal', '', [], min(occurred_at)
        FROM history
        WHERE type = 'withdrawal_requested'
        HAVING count() > 0
    )
SELECT aspect, term, detail, since
FROM facts
ORDER BY
    indexOf(['held', 'archived', 'destroyed', 'consent', 'received', 'open_access',
             'open_correction', 'withdrawal'], aspect),
    term
