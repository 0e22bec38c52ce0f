-- Record one phase's contact import: started (import_id set), or completed at once when it had nobody to push.
-- Parameters: mailing, phase, import_id, status, recipients, updated, dropped_unknown.
INSERT INTO wave_profile_imports (mailing_name, phase, import_id, status, recipients, updated, dropped_unknown,
                                  finished_at)
VALUES (%(mailing)s, %(phase)s, %(import_id)s, %(status)s, %(recipients)s, %(updated)s, %(dropped_unknown)s,
        CASE WHEN %(status)s = 'started' THEN NULL ELSE now() END)
