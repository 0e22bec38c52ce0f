-- The longest rendered message (in SMS parts) per variant of a wave. Parameters: mailing.
SELECT variant, max(message_parts) FROM wave_recipients WHERE mailing_name = %(mailing)s AND variant IS NOT NULL
GROUP BY variant
