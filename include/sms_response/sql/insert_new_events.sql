-- Move the staged rows of one event table into it: the first occurrence (file order: part, line, event) of each
-- event_id, skipping event_ids any window already loaded. Every other staged row (a later occurrence, or an id
-- loaded before) goes to {dups}, where record_conflicts.sql compares it with the version kept.
-- Returns (inserted, not inserted). {target}, {stage}, {dups}, {time_column}, {columns} are identifiers composed
-- with psycopg.sql; %(code)s is bound.
WITH ranked AS MATERIALIZED (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY _part, _line, _ev) AS _rn FROM {stage}
), new_ids AS (
    INSERT INTO event_index (event_id, event_code, event_time, load_id)
    SELECT event_id, %(code)s, {time_column}, load_id FROM ranked WHERE _rn = 1
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO {target} ({columns})
    SELECT {columns} FROM ranked s JOIN new_ids USING (event_id) WHERE s._rn = 1
    RETURNING 1
), not_inserted AS (
    INSERT INTO {dups} ({columns})
    SELECT {columns} FROM ranked s LEFT JOIN new_ids n USING (event_id)
    -- an anti-join, not NOT EXISTS: unanalysed staging tables can get a plain (per-row) subplan, quadratic
    WHERE s._rn > 1 OR n.event_id IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM not_inserted)
