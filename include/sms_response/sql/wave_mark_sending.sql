-- Mark a batch as sending, committed before the platform is called, with the consent record the send relies on
-- (the deciding record now); a resent batch keeps its first batch number. Parameters: batch_no, mailing, phones.
UPDATE wave_recipients w
SET status = 'sending', batch_no = coalesce(w.batch_no, %(batch_no)s), updated_at = now(),
    consent_status = c.status, consent_source = c.source, consent_ref = c.source_ref,
    consent_recorded_at = c.recorded_at, consent_record_id = c.record_id, consent_event_id = c.event_id
FROM unnest(%(phones)s::text[]) AS p (phone_e164)
LEFT JOIN consent_as_of(now(), %(phones)s::text[]) c ON c.phone_e164 = p.phone_e164
WHERE w.mailing_name = %(mailing)s AND w.phone_e164 = p.phone_e164
