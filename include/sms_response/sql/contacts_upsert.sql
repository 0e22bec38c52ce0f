-- Upsert the staged contacts by phone: system fields the source has a column for (has_*) replace the stored
-- ones, the others are kept; custom fields are merged (the source's own keys replaced or removed). Rows whose
-- result equals what is stored are not touched, so a reload changes nothing. Returns one flag per written row:
-- true = inserted.
WITH merged AS (
    SELECT s.phone_e164,
           CASE WHEN %(has_contact_id)s OR c.phone_e164 IS NULL THEN s.contact_id ELSE c.contact_id END AS contact_id,
           CASE WHEN %(has_email)s OR c.phone_e164 IS NULL THEN s.email ELSE c.email END AS email,
           CASE WHEN %(has_given_name)s OR c.phone_e164 IS NULL THEN s.given_name ELSE c.given_name END AS given_name,
           CASE WHEN %(has_surname)s OR c.phone_e164 IS NULL THEN s.surname ELSE c.surname END AS surname,
           CASE WHEN %(has_postal_code)s OR c.phone_e164 IS NULL THEN s.postal_code ELSE c.postal_code END
               AS postal_code,
           CASE WHEN %(has_birthdate)s OR c.phone_e164 IS NULL THEN s.birthdate ELSE c.birthdate END AS birthdate,
           (coalesce(c.custom, '{}'::jsonb) - %(custom_fields)s::text[]) || s.custom AS custom,
           c.phone_e164 IS NULL AS is_new,
           c.contact_id AS old_contact_id, c.email AS old_email, c.given_name AS old_given_name,
           c.surname AS old_surname, c.postal_code AS old_postal_code, c.birthdate AS old_birthdate,
           c.custom AS old_custom
    FROM contacts_stage s
    LEFT JOIN contacts c ON c.phone_e164 = s.phone_e164
)
INSERT INTO contacts AS c (phone_e164, contact_id, email, given_name, surname, postal_code, birthdate, custom)
SELECT phone_e164, contact_id, email, given_name, surname, postal_code, birthdate, custom
FROM merged m
WHERE m.is_new
   OR (m.contact_id, m.email, m.given_name, m.surname, m.postal_code, m.birthdate, m.custom)
      IS DISTINCT FROM (m.old_contact_id, m.old_email, m.old_given_name, m.old_surname, m.old_postal_code,
                        m.old_birthdate, m.old_custom)
ON CONFLICT (phone_e164) DO UPDATE
SET contact_id = EXCLUDED.contact_id, email = EXCLUDED.email, given_name = EXCLUDED.given_name,
    surname = EXCLUDED.surname, postal_code = EXCLUDED.postal_code, birthdate = EXCLUDED.birthdate,
    custom = EXCLUDED.custom, updated_at = now()
RETURNING (xmax = 0) AS inserted
