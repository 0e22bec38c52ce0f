-- The final states of a started request's runs: succeeded when every run succeeded, else failed.
UPDATE flowchart_triggers
SET run_states = run_states || %(states)s, updated_at = now(),
    status = CASE WHEN (SELECT bool_and(value = 'success') FROM jsonb_each_text(run_states || %(states)s))
                  THEN 'succeeded' ELSE 'failed' END
WHERE trigger_id = %(id)s AND status = 'started'
RETURNING status
