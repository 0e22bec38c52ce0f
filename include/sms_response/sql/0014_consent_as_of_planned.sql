-- consent_as_of for a set of phones, planned with the call's own array. It was a SQL function testing
-- `phones IS NULL OR phone_e164 = ANY (phones)`: not inlined when its argument is a subquery (the wave audience
-- passes one), so PostgreSQL 15 searched the array linearly for every evidence row, quadratic in the audience
-- (221k candidates: 40 s). An `IN (SELECT unnest(phones))` under the same OR was worse at that size. Here each
-- branch is one query, planned per call with its values (custom plans, forced: a cached generic plan would take
-- the array for 10 elements), so an audience is a hash join and a send batch of a few phones index lookups.
CREATE OR REPLACE FUNCTION consent_as_of(as_of timestamptz, phones text[] DEFAULT NULL)
RETURNS TABLE (phone_e164 text, status text, source text, source_ref text, recorded_at timestamptz,
               record_id bigint, event_id text)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
BEGIN
    IF phones IS NULL THEN
        RETURN QUERY
        SELECT DISTINCT ON (e.phone_e164)
               e.phone_e164, e.status, e.source, e.source_ref, e.recorded_at, e.record_id, e.event_id
        FROM consent_evidence e
        WHERE e.recorded_at <= as_of
        ORDER BY e.phone_e164, e.recorded_at DESC, (e.status = 'opted_out') DESC, e.source, e.source_ref;
    ELSE
        RETURN QUERY
        SELECT DISTINCT ON (e.phone_e164)
               e.phone_e164, e.status, e.source, e.source_ref, e.recorded_at, e.record_id, e.event_id
        FROM consent_evidence e
        JOIN (SELECT DISTINCT p FROM unnest(phones) AS u(p)) wanted ON wanted.p = e.phone_e164
        WHERE e.recorded_at <= as_of
        ORDER BY e.phone_e164, e.recorded_at DESC, (e.status = 'opted_out') DESC, e.source, e.source_ref;
    END IF;
END
$$;
