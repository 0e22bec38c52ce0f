-- The runs a request started (dag_id -> run_id); dags that could not be started count as failed runs.
UPDATE flowchart_triggers
SET status = 'started', dag_run_ids = %(run_ids)s, run_states = run_states || %(not_started)s,
    message = coalesce(%(message)s, message), updated_at = now()
WHERE trigger_id = %(id)s AND status IN ('claimed', 'started')
