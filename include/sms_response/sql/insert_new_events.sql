-- Move the staged rows of one event table into it: the first occurrence (file order: part, line, event) of each event_id in
-- the window, skipping event_ids any window already loaded.
-- {target}, {stage}, {time_column}, {columns} are identifiers composed with psycopg.sql; %(code)s is bound.
WITH firsts AS (
    SELECT DISTINCT ON (event_id) * FROM {stage} ORDER BY event_id, _part, _line, _ev
), new_ids AS (
    INSERT INTO event_index (event_id, event_code, event_time, load_id)
    SELECT event_id, %(code)s, {time_column}, load_id FROM firsts
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO {target} ({columns})
SELECT {columns} FROM firsts s JOIN new_ids USING (event_id)
