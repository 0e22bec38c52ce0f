-- A drop file that could not be read or validated: a rejected row with the reason, keyed by its name.
INSERT INTO flowchart_triggers (source, source_ref, requested_by, run_tracking, status, message)
VALUES ('file', %(source_ref)s, %(requested_by)s, false, 'rejected', %(message)s)
ON CONFLICT (source_ref) DO NOTHING
RETURNING trigger_id
