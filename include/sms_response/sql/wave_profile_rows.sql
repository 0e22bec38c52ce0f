-- The profiles to push for one phase of a wave, with their contact attributes: the sample's recipients (pushed
-- before the sample is sent), or the rest of the audience (pushed only after the sample gate passed). The
-- holdout gets nothing, and a number already dropped as unknown is not pushed again.
-- Parameters: mailing, phase.
SELECT w.phone_e164, c.email, c.given_name, c.surname, c.postal_code, c.birthdate,
       coalesce(c.custom, '{}'::jsonb)
FROM wave_recipients w LEFT JOIN contacts c ON c.phone_e164 = w.phone_e164
WHERE w.mailing_name = %(mailing)s AND w.phase = %(phase)s AND NOT w.holdout AND w.status <> 'dropped'
ORDER BY w.phone_e164
