-- One planned recipient of a wave: its phase (sample or full), variant, holdout flag, idempotency key, the
-- consent record the plan relied on and, when already rendered, its message. Parameters: mailing, phone,
-- contact_id, source, segment, variant, holdout, phase, key, status, body, parts, consent_status, consent_source,
-- consent_ref, consent_recorded_at, consent_record_id, consent_event_id.
INSERT INTO wave_recipients (mailing_name, phone_e164, contact_id, source_mailing, segment, variant, holdout, phase,
                             idempotency_key, status, message_body, message_parts, consent_status, consent_source,
                             consent_ref, consent_recorded_at, consent_record_id, consent_event_id)
VALUES (%(mailing)s, %(phone)s, %(contact_id)s, %(source)s, %(segment)s, %(variant)s, %(holdout)s, %(phase)s,
        %(key)s, %(status)s, %(body)s, %(parts)s, %(consent_status)s, %(consent_source)s, %(consent_ref)s,
        %(consent_recorded_at)s, %(consent_record_id)s, %(consent_event_id)s)
