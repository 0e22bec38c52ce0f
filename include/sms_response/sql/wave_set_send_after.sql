-- Recipients outside their quiet hours wait: one set-based update of their send_after.
-- Parameters: phones and ats (parallel arrays), mailing.
UPDATE wave_recipients w SET send_after = u.at, updated_at = now()
FROM unnest(%(phones)s::text[], %(ats)s::timestamptz[]) AS u(phone, at)
WHERE w.mailing_name = %(mailing)s AND w.phone_e164 = u.phone
