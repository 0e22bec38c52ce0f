-- The status of a wave. Parameters: mailing.
SELECT status FROM wave_runs WHERE mailing_name = %(mailing)s
