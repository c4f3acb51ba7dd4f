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
        -- Each key's fact as a rank (its place in the output order; 0: no fact), one level
        -- below its uses: the analyzer substitutes an alias into every expression that names
        -- it, and integer comparisons are cheaper to plan than string ones. Planning is most
        -- of this query's cost: the read is one granule.
        SELECT
            multiIf(
                kind = 'item' AND collected_at > destroyed_at,
                    if(archived_at > collected_at, 2, 1),
                kind = 'item' AND destroyed_at >= collected_at AND destroyed_at > 0, 3,
                kind = 'consent' AND last_type = 'consent_given', 4,
                kind = 'received', 5,
                kind = 'access' AND requests > 0 AND closings = 0, 6,
                kind = 'correction' AND requests > 0 AND closings = 0, 7,
                kind = 'withdrawal', 8,
                0) AS rank,
            term, collected_at, destroyed_at, archived_at, collections, last_at, first_at,
            requested_at, all_items
        FROM folded
    )
SELECT
    ['held', 'archived', 'destroyed', 'consent', 'received', 'open_access',
     'open_correction', 'withdrawal'][rank] AS aspect,
    term,
    multiIf(
        rank <= 2,
            arraySort(arrayDistinct(arrayFlatten(arrayMap(c -> c.2,
                arrayFilter(c -> c.1 > destroyed_at, collections))))),
        rank IN (5, 7), all_items,
        []) AS detail,
    multiIf(rank = 1, collected_at, rank = 2, archived_at, rank = 3, destroyed_at,
            rank = 4, last_at, rank IN (6, 7), requested_at, first_at) AS since
FROM judged
WHERE rank != 0
ORDER BY rank, term
-- No JIT: the server compiles an expression to machine code once it has seen it three times,
-- and compiling this query's (~100 ms, once per server) would land on one subject's request;
-- for the few rows of one subject, interpreting them is as fast.
SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0, compile_sort_description = 0
