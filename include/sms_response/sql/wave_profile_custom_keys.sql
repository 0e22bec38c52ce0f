-- The custom contact attributes of a whole wave (holdout excluded), both phases: checked against the platform's
-- custom fields before the sample's import, so an unknown one fails the wave before anything is sent.
-- Parameters: mailing.
SELECT DISTINCT k FROM wave_recipients w JOIN contacts c ON c.phone_e164 = w.phone_e164,
                       jsonb_object_keys(c.custom) AS k
WHERE w.mailing_name = %(mailing)s AND NOT w.holdout ORDER BY 1
