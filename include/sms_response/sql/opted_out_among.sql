-- Which of the given phones are opted out right now: sms_consent, and (belt and braces) any phone
-- whose latest opt event in sms_interactions, published or not, is an opt-out.
SELECT k.phone_e164 FROM sms_consent k
WHERE k.phone_e164 = ANY(%(phones)s) AND k.status = 'opted_out'
UNION
SELECT l.phone_e164 FROM (
    SELECT DISTINCT ON (i.phone_e164) i.phone_e164, i.interaction_type
    FROM sms_interactions i
    WHERE i.phone_e164 = ANY(%(phones)s) AND i.interaction_type IN ('opt_out', 'opt_in')
    ORDER BY i.phone_e164, i.interacted_at DESC, i.event_id DESC
) l
WHERE l.interaction_type = 'opt_out'
