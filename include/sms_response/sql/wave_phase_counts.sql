-- Recipients per phase (sample, full) of a wave, holdout excluded. Parameters: mailing.
SELECT phase, count(*) FROM wave_recipients WHERE mailing_name = %(mailing)s AND NOT holdout GROUP BY phase
