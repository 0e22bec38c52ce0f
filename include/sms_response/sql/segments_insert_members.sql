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
), members AS (
    -- Each eligible send with its qualifying responses: interactions of this mailing of type click,
    -- reply, action or conversion within [sent_at, sent_at + response_window), not while opted out.
    -- Joined unaggregated and grouped once, so the plan stays linear in the number of sends.
    SELECT e.phone_e164, e.contact_id, e.sent_at,
           count(i.event_id) AS responses,
           min(i.interacted_at) AS first_response_at,
           array_agg(DISTINCT i.interaction_type ORDER BY i.interaction_type)
               FILTER (WHERE i.event_id IS NOT NULL) AS response_types,
           array_remove(array_agg(DISTINCT i.action_name ORDER BY i.action_name)
               FILTER (WHERE i.event_id IS NOT NULL), NULL) AS action_names
    FROM eligible e
    LEFT JOIN sms_interactions i
      ON i.phone_e164 = e.phone_e164
     AND i.mailing_name = %(mailing)s
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
    GROUP BY e.phone_e164, e.contact_id, e.sent_at
)
INSERT INTO segment_members (
    segment_run_id, segment, mailing_name, phone_e164, contact_id, sent_at,
    first_response_at, response_types, action_names
)
SELECT %(run_id)s,
       CASE WHEN m.responses > 0 THEN 'responders' ELSE 'non_responders' END,
       %(mailing)s, m.phone_e164, m.contact_id, m.sent_at,
       m.first_response_at, m.response_types, m.action_names
FROM members m
