-- Recipients who opted out since the plan are never sent. Parameters: mailing, phones.
UPDATE wave_recipients SET status = 'skipped_opted_out', reason = 'opted out before the send',
       updated_at = now() WHERE mailing_name = %(mailing)s AND phone_e164 = ANY(%(phones)s)
