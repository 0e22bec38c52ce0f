-- Conflicting re-deliveries: each duplicate of one chunk ({dups}) whose content differs from the version kept
-- (found through event_index; an id kept for another event code conflicts too) is recorded with both versions
-- and the fields that differ; the duplicates are then cleared. load_id and is_late are not content (a later
-- window's copy is late by definition). {target}, {dups}, {time_column} composed with psycopg.sql; %(code)s bound.
WITH d AS (
    SELECT event_id, load_id, to_jsonb(s) - 'load_id' - 'is_late' AS doc FROM {dups} s
), pairs AS (
    SELECT d.event_id, d.load_id, e.load_id AS kept_load_id, d.doc AS delivered,
           CASE WHEN e.event_code = %(code)s THEN (
               SELECT to_jsonb(t) - 'load_id' - 'is_late' FROM {target} t
               WHERE t.event_id = e.event_id AND t.{time_column} = e.event_time)
           ELSE jsonb_build_object('event_code', e.event_code) END AS kept
    FROM d JOIN event_index e USING (event_id)
)
INSERT INTO event_conflicts (event_id, event_code, load_id, kept_load_id, kept, delivered, changed)
SELECT event_id, %(code)s, load_id, kept_load_id, kept, delivered,
       CASE WHEN kept ? 'event_code' THEN ARRAY['event_code']
            ELSE ARRAY(SELECT k FROM (SELECT jsonb_object_keys(kept || delivered) AS k) keys
                       WHERE kept -> k IS DISTINCT FROM delivered -> k ORDER BY k) END
FROM pairs
WHERE kept IS DISTINCT FROM delivered
