-- Recipients of a wave per status. Parameters: mailing.
SELECT status, count(*) FROM wave_recipients WHERE mailing_name = %(mailing)s GROUP BY status
