-- Upsert the staged consent records: one per (phone, source, recorded_at), so reloading a source changes
-- nothing; a record whose status or reference changed is updated (and its loaded_at moves). Two staged records
-- with the same key: the opt-out is kept. Returns one flag per written row: true = inserted.
INSERT INTO consent_records AS r (phone_e164, status, source, source_ref, recorded_at)
SELECT DISTINCT ON (phone_e164, source, recorded_at) phone_e164, status, source, source_ref, recorded_at
FROM consent_stage
ORDER BY phone_e164, source, recorded_at, (status = 'opted_out') DESC, source_ref
ON CONFLICT (phone_e164, source, recorded_at) DO UPDATE
SET status = EXCLUDED.status, source_ref = EXCLUDED.source_ref, loaded_at = now()
WHERE (r.status, r.source_ref) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.source_ref)
RETURNING (xmax = 0) AS inserted
