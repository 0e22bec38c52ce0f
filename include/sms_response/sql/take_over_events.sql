-- Earliest window wins: an event that a *later* load unit imported before this one (the platform
-- re-delivered it, and the later window happened to load first) moves to this load unit; the
-- later unit then counts it as a duplicate. So the tables never depend on the order windows load in.
-- {target}, {stage} are identifiers composed with psycopg.sql; %(code)s, %(window_start)s, %(load_id)s bound.
WITH taken AS (
    DELETE FROM event_index e
    USING {stage} s, load_log l
    WHERE e.event_id = s.event_id
      AND e.event_code = %(code)s
      AND l.load_id = e.load_id
      AND (l.window_start, l.load_id) > (%(window_start)s, %(load_id)s)
    RETURNING e.event_id, e.load_id
)
DELETE FROM {target} t
USING taken
WHERE t.event_id = taken.event_id AND t.load_id = taken.load_id
RETURNING taken.load_id
