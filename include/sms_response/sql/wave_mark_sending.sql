-- Mark a batch as sending, committed before the platform is called; a resent batch keeps its first
-- batch number. Parameters: batch_no, mailing, phones.
UPDATE wave_recipients SET status = 'sending', batch_no = coalesce(batch_no, %(batch_no)s), updated_at = now()
WHERE mailing_name = %(mailing)s AND phone_e164 = ANY(%(phones)s)
