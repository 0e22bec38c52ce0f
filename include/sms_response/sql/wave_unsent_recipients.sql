-- The recipients of a phase still to send: pending, or marked sending by an attempt that may have crashed.
-- Parameters: mailing, phase.
SELECT phone_e164, idempotency_key, message_body, message_parts, variant FROM wave_recipients
WHERE mailing_name = %(mailing)s AND phase = %(phase)s AND status IN ('pending', 'sending') AND message_body IS NOT NULL
ORDER BY phone_e164
