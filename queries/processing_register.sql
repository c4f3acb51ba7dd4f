-- Question: What processing actually happened, per purpose: categories of subjects
--   (collection contexts) and of data (items), recipients, and how long data was kept, side
--   by side with what the policy declares, and where the two differ?
-- Duty: PIPA 제30조 (the privacy policy must state purposes, items, retention, recipients
--   and processors truthfully) and 제26조; the register a regulator compares with COLABOX
--   §1-§6.
-- Param from: DateTime64(6, 'UTC') -- start of the period (inclusive)
-- Param to: DateTime64(6, 'UTC') -- end of the period (exclusive); also "now" for data still held
-- Param declared_purposes: Array(String) [policy] -- the purposes the policy declares (§2)
-- Param declared_items: Array(Tuple(String, String)) [policy] -- (purpose, item) pairs the policy's contexts allow (§1, §2)
-- Param entrusted: Array(Tuple(String, String)) [policy] -- (processor, purpose) pairs the policy entrusts (§4)
-- Param retention_items: Array(String) [policy] -- record items with a retention period (§5)
-- Param retention_months: Array(UInt32) [policy] -- their periods in months, same order
-- Param grace_days: UInt32 [policy] -- days allowed to destroy once due (§6)
--
-- Differences: declared = 0 (a purpose the policy never declares), undeclared_items,
-- recipients_not_entrusted (third parties, or processors used beyond their entrustment),
-- items_kept_too_long (held past retention + grace, or past grace after a withdrawal is
-- left to `deadlines`). held_days_max is the longest any (subject, item) collected for the
-- purpose was kept: until its destruction, or until `to` while still held.
WITH
    (item) -> {retention_months:Array(UInt32)}[indexOf({retention_items:Array(String)}, item)]
        AS months_of,
    period AS
    (
        SELECT subject_id, type, occurred_at, items, purposes, purpose, context, recipient
        FROM privtrail.events
        WHERE type IN ('collected', 'used', 'disclosed', 'destroyed')
            AND occurred_at >= {from:DateTime64(6, 'UTC')} AND occurred_at < {to:DateTime64(6, 'UTC')}
    ),
    -- The purposes collections named in the period, in a fixed order: bit i-1 of a mask
    -- stands for collected[i]. More than 64 would not fit, and fails the query loudly.
    (
        SELECT arraySort(groupUniqArrayArray(purposes)) FROM period WHERE type = 'collected'
    ) AS collected,
    kept AS
    (
        -- One row per (subject, item) collected in the period: first collection, the end of
        -- its keeping, and the purposes it was collected for, as a bit mask over `collected`
        -- (one 64-bit OR per row instead of an array per record: the records are millions).
        SELECT
            cityHash64(subject_id, it) AS record,
            minIf(occurred_at, type = 'collected') AS collected_at,
            if(maxIf(occurred_at, type = 'collected') > maxIf(occurred_at, type = 'destroyed'),
               {to:DateTime64(6, 'UTC')}, maxIf(occurred_at, type = 'destroyed')) AS ended_at,
            groupBitOrIf(purpose_mask, type = 'collected') AS collected_mask,
            any(it) AS item
        FROM
        (
            SELECT subject_id, type, occurred_at, items,
                arrayReduce('groupBitOr',
                    arrayMap(p -> bitShiftLeft(toUInt64(1), indexOf(collected, p) - 1), purposes))
                + throwIf(length(collected) > 64, 'more than 64 purposes collected')
                    AS purpose_mask
            FROM period
            WHERE type IN ('collected', 'destroyed')
        )
        ARRAY JOIN items AS it
        GROUP BY record
        HAVING countIf(type = 'collected') > 0
    ),
    uses AS
    (
        -- One row per (event, purpose): purposes are few, so the items stay arrays and are
        -- merged by the aggregate instead of being expanded row by row.
        SELECT purpose AS p, cityHash64(subject_id) AS subject, items, context AS ctx, recipient
        FROM
        (
            SELECT subject_id, purposes AS ps, items, context, '' AS recipient
            FROM period WHERE type = 'collected'
            UNION ALL
            SELECT subject_id, [purpose], items, '', if(type = 'disclosed', recipient, '')
            FROM period WHERE type IN ('used', 'disclosed')
        )
        ARRAY JOIN ps AS purpose
    ),
    observed AS
    (
        SELECT
            p AS purpose,
            uniqExact(subject) AS subjects,
            arraySort(groupUniqArrayIf(ctx, ctx != '')) AS contexts,
            -- Distinct item lists are few: one set insert per row, flattened at the end.
            arraySort(arrayDistinct(arrayFlatten(groupUniqArray(items)))) AS items,
            arraySort(groupUniqArrayIf(recipient, recipient != '')) AS recipients
        FROM uses
        GROUP BY p
    ),
    keeping AS
    (
        SELECT
            purpose,
            max(dateDiff('day', collected_at, ended_at)) AS held_days_max,
            arraySort(groupUniqArrayIf(item, has({retention_items:Array(String)}, item)
                AND ended_at > addMonths(collected_at, months_of(item))
                    + toIntervalDay({grace_days:UInt32}))) AS items_kept_too_long
        FROM kept
        ARRAY JOIN arrayFilter((p, i) -> bitTest(collected_mask, i - 1), collected,
                               arrayEnumerate(collected)) AS purpose
        GROUP BY purpose
    ),
    purposes AS
    (
        SELECT purpose FROM observed
        UNION DISTINCT
        SELECT arrayJoin({declared_purposes:Array(String)})
    )
SELECT
    u.purpose AS purpose,
    has({declared_purposes:Array(String)}, u.purpose) AS declared,
    o.subjects AS subjects,
    o.contexts AS contexts,
    o.items AS items,
    arrayFilter(i -> NOT has({declared_items:Array(Tuple(String, String))}, (u.purpose, i)),
                o.items) AS undeclared_items,
    o.recipients AS recipients,
    arrayFilter(r -> NOT has({entrusted:Array(Tuple(String, String))}, (r, u.purpose)),
                o.recipients) AS recipients_not_entrusted,
    if(k.purpose = '', NULL, k.held_days_max) AS held_days_max,
    k.items_kept_too_long AS items_kept_too_long
FROM purposes AS u
LEFT JOIN observed AS o ON o.purpose = u.purpose
LEFT JOIN keeping AS k ON k.purpose = u.purpose
ORDER BY purpose
