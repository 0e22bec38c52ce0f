-- The run row of a wave as the report shows it. Parameters: mailing.
SELECT status, reason, winner, audience_size, holdout_size, sample_stats FROM wave_runs
WHERE mailing_name = %(mailing)s
