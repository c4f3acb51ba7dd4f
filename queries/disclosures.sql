-- Question: Who received personal data in a period, on which basis, for which purposes and
--   items: entrusted processors versus third parties, with the legal reference of every
--   disclosure made on a lawful request?
-- Duty: PIPA 제17조 and 제18조 (provision to third parties), 제26조 (entrustment);
--   COLABOX §3 (제3자 제공) and §4 (처리위탁).
-- Param from: DateTime64(6, 'UTC') -- start of the period (inclusive)
-- Param to: DateTime64(6, 'UTC') -- end of the period (exclusive)
-- Param processors: Array(String) [policy] -- the policy's entrusted processors (§4)
SELECT
    if(has({processors:Array(String)}, recipient), 'processor', 'third_party') AS recipient_kind,
    recipient,
    basis,
    count() AS disclosures,
    uniqExact(cityHash64(subject_id)) AS subjects,
    arraySort(groupUniqArrayArray(items)) AS items,
    arraySort(groupUniqArray(purpose)) AS purposes,
    arraySort(arrayFilter(x -> x != '', groupUniqArray(legal_reference))) AS legal_references,
    min(occurred_at) AS first_at,
    max(occurred_at) AS last_at
FROM privtrail.events
WHERE type = 'disclosed'
    AND occurred_at >= {from:DateTime64(6, 'UTC')}
    AND occurred_at < {to:DateTime64(6, 'UTC')}
GROUP BY recipient, basis
ORDER BY recipient_kind, recipient, basis
