-- Recompute consent for the touched phones from the interactions table: latest opt event wins
-- (ties broken by event_id), so any load order and any rerun give the same result.
WITH latest AS (
    SELECT DISTINCT ON (i.phone_e164)
           i.phone_e164, i.interaction_type, i.event_id, i.interacted_at, i.keyword, i.mailing_name
    FROM sms_interactions i
    WHERE i.phone_e164 = ANY(%(phones)s) AND i.interaction_type IN ('opt_out', 'opt_in')
    ORDER BY i.phone_e164, i.interacted_at DESC, i.event_id DESC
), removed AS (
    DELETE FROM sms_consent c
    WHERE c.phone_e164 = ANY(%(phones)s)
      AND NOT EXISTS (SELECT 1 FROM latest l WHERE l.phone_e164 = c.phone_e164)
)
INSERT INTO sms_consent (phone_e164, status, event_id, changed_at, keyword, mailing_name)
SELECT phone_e164,
       CASE interaction_type WHEN 'opt_out' THEN 'opted_out' ELSE 'opted_in' END,
       event_id, interacted_at, keyword, mailing_name
FROM latest
ON CONFLICT (phone_e164) DO UPDATE
SET status = EXCLUDED.status, event_id = EXCLUDED.event_id, changed_at = EXCLUDED.changed_at,
    keyword = EXCLUDED.keyword, mailing_name = EXCLUDED.mailing_name
