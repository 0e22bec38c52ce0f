-- Recipients of a phase the platform dropped from that phase's contact import as unknown are never sent.
-- Parameters: mailing, phase, phones.
UPDATE wave_recipients SET status = 'dropped', reason = 'unknown to the platform', updated_at = now()
WHERE mailing_name = %(mailing)s AND phase = %(phase)s AND phone_e164 = ANY(%(phones)s) AND status = 'pending'
