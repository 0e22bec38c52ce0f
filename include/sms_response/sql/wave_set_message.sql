-- A full-phase recipient's message, rendered with the winning variant. Parameters: variant, body, parts,
-- mailing, phone.
UPDATE wave_recipients SET variant = %(variant)s, message_body = %(body)s, message_parts = %(parts)s,
       updated_at = now() WHERE mailing_name = %(mailing)s AND phone_e164 = %(phone)s
