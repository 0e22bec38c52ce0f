-- Record the platform's result of one phase's contact import, once: completed with its figures, or failed with
-- the reason. Parameters: mailing, phase, status, updated, dropped_unknown, reason.
UPDATE wave_profile_imports
SET status = %(status)s, updated = %(updated)s, dropped_unknown = %(dropped_unknown)s, reason = %(reason)s,
    finished_at = now()
WHERE mailing_name = %(mailing)s AND phase = %(phase)s AND status = 'started'
