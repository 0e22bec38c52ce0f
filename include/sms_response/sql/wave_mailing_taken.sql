-- Is the mailing name already registered? Parameters: mailing.
SELECT 1 FROM mailings WHERE mailing_name = %(mailing)s
