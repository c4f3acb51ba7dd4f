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
--
-- One pass over the subject's rows (a primary-key range): each event is expanded into the
-- keys it affects (an item, a consent scope, a recipient, a request), the rows are folded
-- per key with aggregate functions, and each key's fold becomes at most one fact.
WITH
    keyed AS
    (
        SELECT
            key.1 AS kind,
            key.2 AS term,
            occurred_at,
            type,
            items,
            purposes
        FROM privtrail.events
        ARRAY JOIN
            multiIf(
                type IN ('collected', 'destroyed', 'archived'), arrayMap(i -> ('item', i), items),
                type IN ('consent_given', 'consent_withdrawn'), [('consent', scope)],
                type = 'disclosed', [('received', recipient)],
                type IN ('access_requested', 'access_fulfilled'), [('access', request_id)],
                type IN ('correction_requested', 'corrected'), [('correction', request_id)],
                type = 'withdrawal_requested', [('withdrawal', '')],
                []) AS key
        WHERE subject_id = {subject:String} AND occurred_at <= {as_of:DateTime64(6, 'UTC')}
    ),
    folded AS
    (
        SELECT
            kind,
            term,
            maxIf(occurred_at, type = 'collected') AS collected_at,
            maxIf(occurred_at, type = 'destroyed') AS destroyed_at,
            maxIf(occurred_at, type = 'archived') AS archived_at,
            groupArrayIf((occurred_at, purposes), type = 'collected') AS collections,
            argMax(type, occurred_at) AS last_type,
            max(occurred_at) AS last_at,
            min(occurred_at) AS first_at,
            minIf(occurred_at, type IN ('access_requested', 'correction_requested'))
                AS requested_at,
            countIf(type IN ('access_requested', 'correction_requested')) AS requests,
            countIf(type IN ('access_fulfilled', 'corrected')) AS closings,
            arraySort(groupUniqArrayArray(items)) AS all_items
        FROM keyed
        GROUP BY kind, term
    ),
    judged AS
    (
        -- The aspect is computed here, one level below its uses: the analyzer substitutes
        -- an alias into every expression that names it, so using it at the same level
        -- (in detail, since, WHERE and ORDER BY) multiplies the work of planning.
        SELECT
            multiIf(
                kind = 'item' AND collected_at > destroyed_at,
                    if(archived_at > collected_at, 'archived', 'held'),
                kind = 'item' AND destroyed_at >= collected_at AND destroyed_at > 0, 'destroyed',
                kind = 'consent' AND last_type = 'consent_given', 'consent',
                kind = 'received', 'received',
                kind = 'access' AND requests > 0 AND closings = 0, 'open_access',
                kind = 'correction' AND requests > 0 AND closings = 0, 'open_correction',
                kind = 'withdrawal', 'withdrawal',
                '') AS aspect,
            term, collected_at, destroyed_at, archived_at, collections, last_at, first_at,
            requested_at, all_items
        FROM folded
    ),
    facts AS
    (
        SELECT
            aspect,
            term,
            multiIf(
                aspect IN ('held', 'archived'),
                    arraySort(arrayDistinct(arrayFlatten(arrayMap(c -> c.2,
                        arrayFilter(c -> c.1 > destroyed_at, collections))))),
                aspect IN ('received', 'open_correction'), all_items,
                []) AS detail,
            multiIf(
                aspect = 'held', collected_at,
                aspect = 'archived', archived_at,
                aspect = 'destroyed', destroyed_at,
                aspect = 'consent', last_at,
                aspect IN ('open_access', 'open_correction'), requested_at,
                first_at) AS since,
            indexOf(['held', 'archived', 'destroyed', 'consent', 'received', 'open_access',
                     'open_correction', 'withdrawal'], aspect) AS rank
        FROM judged
        WHERE aspect != ''
    )
SELECT aspect, term, detail, since
FROM facts
ORDER BY rank, term
