-- The stored request (WaveSpec as JSON) of a wave. Parameters: mailing.
SELECT params FROM wave_runs WHERE mailing_name = %(mailing)s
