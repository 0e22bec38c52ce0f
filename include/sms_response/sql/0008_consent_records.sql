-- Consent records: every opt-in / opt-out the pipeline knows of, with where it came from and when it was given
-- or withdrawn. Reloading a source is idempotent: one row per (phone, source, recorded_at).
CREATE TABLE consent_records (
    record_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_e164   text NOT NULL,
    status       text NOT NULL CHECK (status IN ('opted_in', 'opted_out')),
    source       text NOT NULL CHECK (source IN ('platform_export', 'keyword', 'consent_list')),
    source_ref   text NOT NULL,
    recorded_at  timestamptz NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (phone_e164, source, recorded_at)
);
CREATE INDEX consent_records_phone_time ON consent_records (phone_e164, recorded_at DESC);

-- Every piece of consent evidence: the loaded records, and the opt-in / opt-out keyword events of the imported
-- interactions (read where they live, so a window's rerun never leaves a stale copy behind).
CREATE VIEW consent_evidence AS
SELECT r.phone_e164, r.status, r.source, r.source_ref, r.recorded_at, r.record_id, NULL::text AS event_id
FROM consent_records r
UNION ALL
SELECT i.phone_e164,
       CASE i.interaction_type WHEN 'opt_out' THEN 'opted_out' ELSE 'opted_in' END,
       'keyword', coalesce(i.keyword, i.interaction_type) || ' (' || i.mailing_name || ')',
       i.interacted_at, NULL::bigint, i.event_id
FROM sms_interactions i
WHERE i.interaction_type IN ('opt_out', 'opt_in');

-- The record each phone's send relies on at time "as_of": the latest evidence at or before it. Ties at the same
-- instant go to the opt-out (the safe reading), then by source and reference so the answer is deterministic.
-- phones NULL: every phone with evidence. Resolved with the caller's search_path, like the SQL files.
CREATE FUNCTION consent_as_of(as_of timestamptz, phones text[] DEFAULT NULL)
RETURNS TABLE (phone_e164 text, status text, source text, source_ref text, recorded_at timestamptz,
               record_id bigint, event_id text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (e.phone_e164)
           e.phone_e164, e.status, e.source, e.source_ref, e.recorded_at, e.record_id, e.event_id
    FROM consent_evidence e
    WHERE e.recorded_at <= as_of AND (phones IS NULL OR e.phone_e164 = ANY (phones))
    ORDER BY e.phone_e164, e.recorded_at DESC, (e.status = 'opted_out') DESC, e.source, e.source_ref
$$;

-- Whether a policy lets a phone be texted given its deciding record's status (NULL: no record). An unknown
-- policy answers NULL, which a WHERE clause treats as no.
CREATE FUNCTION consent_allows(policy text, status text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE policy
        WHEN 'opt_in_required' THEN status IS NOT DISTINCT FROM 'opted_in'
        WHEN 'not_opted_out' THEN status IS DISTINCT FROM 'opted_out'
    END
$$;
