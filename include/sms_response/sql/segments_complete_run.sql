-- Complete a segment run and make it the one the views show, in the refresh's transaction.
-- Parameters: run_id, mailing.
WITH sizes AS (
    SELECT count(*) FILTER (WHERE segment = 'responders') AS responders,
           count(*) FILTER (WHERE segment = 'non_responders') AS non_responders
    FROM segment_members
    WHERE segment_run_id = %(run_id)s
), done AS (
    UPDATE segment_runs r
    SET status = 'complete', responders = sizes.responders, non_responders = sizes.non_responders,
        finished_at = clock_timestamp()
    FROM sizes
    WHERE r.segment_run_id = %(run_id)s
    RETURNING r.responders, r.non_responders
), switched AS (
    INSERT INTO segment_current (mailing_name, segment_run_id)
    VALUES (%(mailing)s, %(run_id)s)
    ON CONFLICT (mailing_name) DO UPDATE SET segment_run_id = EXCLUDED.segment_run_id
)
SELECT responders, non_responders FROM done
