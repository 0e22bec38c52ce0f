-- What a passed sample gate stored: the winner and the sample's statistics. Parameters: mailing.
SELECT winner, sample_stats FROM wave_runs WHERE mailing_name = %(mailing)s
