-- Members of one segment run for one mailing: responders and non-responders.
-- Only rows of published windows count (load_log.status = 'published').
-- Parameters: run_id, mailing, response_window (interval).
WITH published AS (
    SELECT load_id FROM load_log WHERE status = 'published'
), sends AS (
    -- The first delivered send of the mailing to each phone (ties by event_id).
    SELECT DISTINCT ON (s.phone_e164) s.phone_e164, s.contact_id, s.sent_at
    FROM sms_sent s
    WHERE s.mailing_name = %(mailing)s
      AND s.delivery_status = 'delivered'
      AND s.load_id IN (SELECT load_id FROM published)
    ORDER BY s.phone_e164, s.sent_at, s.event_id
), hard_failed AS (
    -- Any hard failure of the phone, whatever the mailing.
    SELECT DISTINCT s.phone_e164
    FROM sms_sent s JOIN hard_failure_codes h ON h.status_code = s.status_code
    WHERE s.load_id IN (SELECT load_id FROM published)
), eligible AS (
    SELECT d.*
    FROM sends d
    WHERE NOT EXISTS (SELECT 1 FROM hard_failed f WHERE f.phone_e164 = d.phone_e164)
      AND NOT EXISTS (
          SELECT 1 FROM sms_consent c WHERE c.phone_e164 = d.phone_e164 AND c.status = 'opted_out')
      -- Currently opted out according to the published opt events as well.
      AND COALESCE((
          SELECT o.interaction_type = 'opt_out'
          FROM sms_interactions o
          WHERE o.phone_e164 = d.phone_e164
            AND o.interaction_type IN ('opt_out', 'opt_in')
            AND o.load_id IN (SELECT load_id FROM published)
          ORDER BY o.interacted_at DESC, o.event_id DESC
          LIMIT 1), false) = false
), qualifying AS (
    -- Responses of this mailing within the response window of the send, while not opted out.
    SELECT i.phone_e164, i.interacted_at, i.interaction_type, i.action_name
    FROM sms_interactions i
    JOIN eligible e ON e.phone_e164 = i.phone_e164
    WHERE i.mailing_name = %(mailing)s
      AND i.interaction_type IN ('click', 'reply', 'action', 'conversion')
      AND i.interacted_at >= e.sent_at
      AND i.interacted_at < e.sent_at + %(response_window)s::interval
      AND i.load_id IN (SELECT load_id FROM published)
      AND COALESCE((
          SELECT o.interaction_type = 'opt_out'
          FROM sms_interactions o
          WHERE o.phone_e164 = i.phone_e164
            AND o.interaction_type IN ('opt_out', 'opt_in')
            AND o.interacted_at <= i.interacted_at
            AND o.load_id IN (SELECT load_id FROM published)
          ORDER BY o.interacted_at DESC, o.event_id DESC
          LIMIT 1), false) = false
), responses AS (
    SELECT q.phone_e164,
           min(q.interacted_at) AS first_response_at,
           array_agg(DISTINCT q.interaction_type ORDER BY q.interaction_type) AS response_types,
           array_remove(array_agg(DISTINCT q.action_name ORDER BY q.action_name), NULL) AS action_names
    FROM qualifying q
    GROUP BY q.phone_e164
)
INSERT INTO segment_members (
    segment_run_id, segment, mailing_name, phone_e164, contact_id, sent_at,
    first_response_at, response_types, action_names
)
SELECT %(run_id)s,
       CASE WHEN r.phone_e164 IS NULL THEN 'non_responders' ELSE 'responders' END,
       %(mailing)s, e.phone_e164, e.contact_id, e.sent_at,
       r.first_response_at, r.response_types, r.action_names
FROM eligible e
LEFT JOIN responses r ON r.phone_e164 = e.phone_e164
