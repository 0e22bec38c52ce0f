-- Record the contact update import a wave started. Parameters: import_id, mailing.
UPDATE wave_runs SET import_id = %(import_id)s, updated_at = now() WHERE mailing_name = %(mailing)s
