SELECT count(*) FROM flowchart_triggers WHERE status = 'pending'
