-- The sample recipients that were (or are being) sent, with their variant and platform message id.
-- Parameters: mailing.
SELECT phone_e164, variant, status, message_id, sent_at FROM wave_recipients
WHERE mailing_name = %(mailing)s AND phase = 'sample' AND status IN ('sent', 'failed', 'sending', 'pending')
