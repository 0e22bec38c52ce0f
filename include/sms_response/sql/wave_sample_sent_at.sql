-- When the last sample message of a wave went out (NULL before). Parameters: mailing.
SELECT max(sent_at) FROM wave_recipients WHERE mailing_name = %(mailing)s AND phase = 'sample'
