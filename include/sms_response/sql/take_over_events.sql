-- Earliest window wins: an event that a *later* load unit imported before this one (the platform
-- re-delivered it, and the later window happened to load first) moves to this load unit; the
-- later unit then counts it as a duplicate, and as a conflict when its version differs from this one's first
-- occurrence (recorded here, as the later unit would have recorded it loading second). So the tables never
-- depend on the order windows load in.
-- {target}, {stage} are identifiers composed with psycopg.sql; %(code)s, %(window_start)s, %(load_id)s bound.
WITH taken AS (
    DELETE FROM event_index e
    USING {stage} s, load_log l
    WHERE e.event_id = s.event_id
      AND e.event_code = %(code)s
      AND l.load_id = e.load_id
      AND (l.window_start, l.load_id) > (%(window_start)s, %(load_id)s)
    RETURNING e.event_id, e.load_id
), removed AS (
    DELETE FROM {target} t
    USING taken
    WHERE t.event_id = taken.event_id AND t.load_id = taken.load_id
    RETURNING taken.load_id, t.event_id, to_jsonb(t) - 'load_id' - 'is_late' AS doc
), firsts AS (
    SELECT DISTINCT ON (s.event_id) s.event_id, to_jsonb(s) - 'load_id' - 'is_late' - '_part' - '_line' - '_ev' AS doc
    FROM {stage} s JOIN removed r ON r.event_id = s.event_id
    ORDER BY s.event_id, s._part, s._line, s._ev
), conflicts AS (
    INSERT INTO event_conflicts (event_id, event_code, load_id, kept_load_id, kept, delivered, changed)
    SELECT r.event_id, %(code)s, r.load_id, %(load_id)s, f.doc, r.doc,
           ARRAY(SELECT k FROM (SELECT jsonb_object_keys(f.doc || r.doc) AS k) keys
                 WHERE f.doc -> k IS DISTINCT FROM r.doc -> k ORDER BY k)
    FROM removed r JOIN firsts f USING (event_id)
    WHERE f.doc IS DISTINCT FROM r.doc
    RETURNING 1
)
SELECT DISTINCT load_id FROM removed
