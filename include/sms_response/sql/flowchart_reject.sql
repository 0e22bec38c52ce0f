-- A row that fails validation at claim time (written by hand or by a flowchart's own SQL).
UPDATE flowchart_triggers SET status = 'rejected', message = %(message)s, updated_at = now()
WHERE trigger_id = %(id)s
