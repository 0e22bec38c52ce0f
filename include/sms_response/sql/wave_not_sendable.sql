-- Which of the given phones may not be texted right now under the policy: opted out (sms_consent, or the latest
-- opt keyword event, published or not), or not allowed by the policy over the deciding consent record now.
-- Returns the phone and why. Parameters: phones, policy.
SELECT p.phone_e164,
       CASE WHEN o.phone_e164 IS NOT NULL THEN 'opted_out' ELSE 'no_consent' END AS why
FROM unnest(%(phones)s::text[]) AS p (phone_e164)
LEFT JOIN (
    SELECT k.phone_e164 FROM sms_consent k WHERE k.phone_e164 = ANY (%(phones)s) AND k.status = 'opted_out'
    UNION
    SELECT l.phone_e164 FROM (
        SELECT DISTINCT ON (i.phone_e164) i.phone_e164, i.interaction_type
        FROM sms_interactions i
        WHERE i.phone_e164 = ANY (%(phones)s) AND i.interaction_type IN ('opt_out', 'opt_in')
        ORDER BY i.phone_e164, i.interacted_at DESC, i.event_id DESC
    ) l
    WHERE l.interaction_type = 'opt_out'
) o ON o.phone_e164 = p.phone_e164
LEFT JOIN consent_as_of(now(), %(phones)s::text[]) c ON c.phone_e164 = p.phone_e164
WHERE o.phone_e164 IS NOT NULL OR NOT coalesce(consent_allows(%(policy)s, c.status), false)
ORDER BY p.phone_e164
