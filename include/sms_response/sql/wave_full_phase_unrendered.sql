-- Full-phase recipients whose message is not rendered yet, with their contact attributes (the
-- columns of AudienceMember, in order). Parameters: mailing.
SELECT w.phone_e164, coalesce(c.contact_id, w.contact_id), c.email, c.given_name, c.surname, c.postal_code,
       c.birthdate, coalesce(c.custom, '{}'::jsonb)
FROM wave_recipients w LEFT JOIN contacts c ON c.phone_e164 = w.phone_e164
WHERE w.mailing_name = %(mailing)s AND w.phase = 'full' AND NOT w.holdout AND w.message_body IS NULL
