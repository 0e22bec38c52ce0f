-- Delete old segment runs: per mailing keep the `keep` newest complete runs, every run newer
-- than the oldest kept one (failed attempts included) and always the current run.
-- Members go with their run (ON DELETE CASCADE).
WITH ranked AS (
    SELECT segment_run_id, mailing_name,
           row_number() OVER (PARTITION BY mailing_name ORDER BY segment_run_id DESC) AS rn
    FROM segment_runs
    WHERE status = 'complete'
), oldest_kept AS (
    SELECT mailing_name, min(segment_run_id) AS segment_run_id
    FROM ranked
    WHERE rn <= %(keep)s
    GROUP BY mailing_name
)
DELETE FROM segment_runs r
USING oldest_kept k
WHERE r.mailing_name = k.mailing_name
  AND r.segment_run_id < k.segment_run_id
  AND r.status <> 'running'
  AND NOT EXISTS (SELECT 1 FROM segment_current c WHERE c.segment_run_id = r.segment_run_id)
RETURNING r.segment_run_id
