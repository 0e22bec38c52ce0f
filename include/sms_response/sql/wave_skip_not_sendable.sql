-- Recipients who opted out, or lost the consent the policy needs, since the plan are never sent.
-- Parameters: mailing, phones, status ('skipped_opted_out' or 'skipped_no_consent'), reason.
UPDATE wave_recipients SET status = %(status)s, reason = %(reason)s, updated_at = now()
WHERE mailing_name = %(mailing)s AND phone_e164 = ANY (%(phones)s)
