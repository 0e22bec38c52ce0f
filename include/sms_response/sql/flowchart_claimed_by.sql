-- The requests a claimer holds and has not started yet, in the claim's column order.
SELECT trigger_id, source, source_ref, requested_by, run_tracking, mailing_names, window_start, window_end, wave_conf
FROM flowchart_triggers WHERE status = 'claimed' AND claimed_by = %(claimer)s ORDER BY trigger_id
