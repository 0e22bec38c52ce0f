-- One planned recipient of a wave: its phase (sample or full), variant, holdout flag, idempotency key
-- and, when already rendered, its message. Parameters: mailing, phone, contact_id, source, segment,
-- variant, holdout, phase, key, status, body, parts.
INSERT INTO wave_recipients (mailing_name, phone_e164, contact_id, source_mailing, segment, variant, holdout, phase,
                             idempotency_key, status, message_body, message_parts)
VALUES (%(mailing)s, %(phone)s, %(contact_id)s, %(source)s, %(segment)s, %(variant)s, %(holdout)s, %(phase)s,
        %(key)s, %(status)s, %(body)s, %(parts)s)
