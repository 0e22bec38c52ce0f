-- Move the staged rows of one event table into it, skipping event_ids any window already loaded.
-- {target}, {stage}, {time_column}, {columns} are identifiers composed with psycopg.sql; %(code)s is bound.
WITH new_ids AS (
    INSERT INTO event_index (event_id, event_code, event_time, load_id)
    SELECT event_id, %(code)s, {time_column}, load_id FROM {stage}
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO {target} ({columns})
SELECT {columns} FROM {stage} s JOIN new_ids USING (event_id)
