-- Recipients the platform dropped from the contact import as unknown are never sent.
-- Parameters: mailing, phones.
UPDATE wave_recipients SET status = 'dropped', reason = 'unknown to the platform', updated_at = now()
WHERE mailing_name = %(mailing)s AND phone_e164 = ANY(%(phones)s) AND status = 'pending'
