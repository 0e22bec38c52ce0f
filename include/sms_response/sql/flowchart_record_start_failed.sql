-- A claimed request none of whose runs could be created.
UPDATE flowchart_triggers SET status = 'failed', message = %(message)s, updated_at = now()
WHERE trigger_id = %(id)s AND status = 'claimed'
