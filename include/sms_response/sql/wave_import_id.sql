-- The contact update import a wave started, if any. Parameters: mailing.
SELECT import_id FROM wave_runs WHERE mailing_name = %(mailing)s
