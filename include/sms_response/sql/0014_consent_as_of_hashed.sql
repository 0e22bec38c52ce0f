-- consent_as_of with a set of phones: membership by a hashed lookup of the array's elements, not `= ANY (phones)`,
-- which PostgreSQL 15 evaluated as a linear search of the array for every evidence row (the function is not
-- inlined, so the array is not a constant it would hash): quadratic in the wave's audience (221k candidates took
-- 40 s at the 500k-record bench size).
CREATE OR REPLACE FUNCTION consent_as_of(as_of timestamptz, phones text[] DEFAULT NULL)
RETURNS TABLE (phone_e164 text, status text, source text, source_ref text, recorded_at timestamptz,
               record_id bigint, event_id text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (e.phone_e164)
           e.phone_e164, e.status, e.source, e.source_ref, e.recorded_at, e.record_id, e.event_id
    FROM consent_evidence e
    WHERE e.recorded_at <= as_of AND (phones IS NULL OR e.phone_e164 IN (SELECT unnest(phones)))
    ORDER BY e.phone_e164, e.recorded_at DESC, (e.status = 'opted_out') DESC, e.source, e.source_ref
$$;
