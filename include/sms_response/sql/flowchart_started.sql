-- Requests whose runs were started and whose outcome is not recorded yet.
SELECT trigger_id, dag_run_ids FROM flowchart_triggers WHERE status = 'started' ORDER BY trigger_id
