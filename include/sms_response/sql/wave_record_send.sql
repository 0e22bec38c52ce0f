-- The platform's answer for one recipient: sent (accepted or duplicate) or failed with a reason.
-- Parameters: status, message_id, sent_at, reason, mailing, phone.
UPDATE wave_recipients SET status = %(status)s, message_id = coalesce(%(message_id)s, message_id),
       sent_at = coalesce(sent_at, %(sent_at)s), reason = %(reason)s, updated_at = now()
WHERE mailing_name = %(mailing)s AND phone_e164 = %(phone)s
