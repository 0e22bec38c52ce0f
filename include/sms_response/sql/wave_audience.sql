-- The audience of a wave: the chosen segment of the source mailing (latest complete run), with
-- contact attributes when the contacts table knows the phone, minus every opted-out phone and
-- minus everyone already in the target mailing. Parameters: source, segment, target.
SELECT m.phone_e164, coalesce(c.contact_id, m.contact_id) AS contact_id, c.email, c.given_name, c.surname,
       c.postal_code, c.birthdate, coalesce(c.custom, '{}'::jsonb) AS custom
FROM segment_members m
JOIN segment_current cur ON cur.segment_run_id = m.segment_run_id
LEFT JOIN contacts c ON c.phone_e164 = m.phone_e164
WHERE m.mailing_name = %(source)s
  AND m.segment = %(segment)s
  AND NOT EXISTS (SELECT 1 FROM sms_consent k WHERE k.phone_e164 = m.phone_e164 AND k.status = 'opted_out')
  AND NOT EXISTS (SELECT 1 FROM wave_recipients w WHERE w.mailing_name = %(target)s AND w.phone_e164 = m.phone_e164)
ORDER BY m.phone_e164
