-- The last batch number a wave used (0 before the first batch). Parameters: mailing.
SELECT coalesce(max(batch_no), 0) FROM wave_recipients WHERE mailing_name = %(mailing)s
