-- The profiles to push before a wave: every recipient but the holdout, with its contact attributes.
-- Parameters: mailing.
SELECT w.phone_e164, c.email, c.given_name, c.surname, c.postal_code, c.birthdate,
       coalesce(c.custom, '{}'::jsonb)
FROM wave_recipients w LEFT JOIN contacts c ON c.phone_e164 = w.phone_e164
WHERE w.mailing_name = %(mailing)s AND NOT w.holdout ORDER BY w.phone_e164
