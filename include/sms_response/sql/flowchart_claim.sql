-- The subquery locks the rows it picks and skips rows another claimer holds, so two claimers
-- never take the same row; a claim older than `stale` (its claimer died before starting the runs)
-- is taken over, which is safe because the run ids are deterministic.
UPDATE flowchart_triggers
SET status = 'claimed', claimed_by = %(me)s, claimed_at = now(), updated_at = now(),
    message = CASE WHEN status = 'claimed' THEN 'reclaimed from ' || claimed_by ELSE message END
WHERE trigger_id IN (
    SELECT trigger_id FROM flowchart_triggers
    WHERE status = 'pending' OR (status = 'claimed' AND claimed_at < now() - %(stale)s)
    ORDER BY trigger_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING trigger_id, source, source_ref, requested_by, run_tracking, mailing_names, window_start, window_end,
          wave_conf
