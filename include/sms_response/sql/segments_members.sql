-- Members of one segment run for one mailing: responders and non-responders, in three steps
-- through temporary tables that are ANALYZEd, so every join is planned on true row counts
-- (CTE chains with anti-joins get estimates of one row and nested-loop plans that go quadratic).
-- Only rows of published windows count (load_log.status = 'published').
-- Parameters: mailing, response_window (interval), run_id. Statements are split on semicolons.

-- 1. The first delivered send of the mailing to each phone (ties by event_id), without phones that
--    ever hard-failed (any mailing) or are currently opted out (sms_consent, or the latest published
--    opt event of the phone).
CREATE TEMP TABLE segment_refresh_sends ON COMMIT DROP AS
WITH published AS (
    SELECT load_id FROM load_log WHERE status = 'published'
), sends AS (
    SELECT DISTINCT ON (s.phone_e164) s.phone_e164, s.contact_id, s.sent_at
    FROM sms_sent s
    WHERE s.mailing_name = %(mailing)s
      AND s.delivery_status = 'delivered'
      AND s.load_id IN (SELECT load_id FROM published)
    ORDER BY s.phone_e164, s.sent_at, s.event_id
), hard_failed AS (
    SELECT DISTINCT s.phone_e164
    FROM sms_sent s
    WHERE s.status_code IN (SELECT status_code FROM hard_failure_codes)
      AND s.load_id IN (SELECT load_id FROM published)
)
SELECT d.phone_e164, d.contact_id, d.sent_at
FROM sends d
WHERE NOT EXISTS (SELECT 1 FROM hard_failed f WHERE f.phone_e164 = d.phone_e164)
  AND NOT EXISTS (SELECT 1 FROM sms_consent c WHERE c.phone_e164 = d.phone_e164 AND c.status = 'opted_out')
  AND COALESCE((
      SELECT o.interaction_type = 'opt_out'
      FROM sms_interactions o
      WHERE o.phone_e164 = d.phone_e164
        AND o.interaction_type IN ('opt_out', 'opt_in')
        AND o.load_id IN (SELECT load_id FROM published)
      ORDER BY o.interacted_at DESC, o.event_id DESC
      LIMIT 1), false) = false;

ANALYZE segment_refresh_sends;

-- 2. Qualifying responses per phone: click (not a suspected bot's), reply, action or conversion of this mailing within
--    [sent_at, sent_at + response_window), at an instant when the phone was not opted out (the
--    latest published opt_out/opt_in of the phone, any mailing, at or before it is not an opt_out).
CREATE TEMP TABLE segment_refresh_responses ON COMMIT DROP AS
SELECT e.phone_e164,
       min(i.interacted_at) AS first_response_at,
       array_agg(DISTINCT i.interaction_type ORDER BY i.interaction_type) AS response_types,
       array_remove(array_agg(DISTINCT i.action_name ORDER BY i.action_name), NULL) AS action_names
FROM segment_refresh_sends e
JOIN sms_interactions i
  ON i.phone_e164 = e.phone_e164
 AND i.mailing_name = %(mailing)s
 AND i.interaction_type IN ('click', 'reply', 'action', 'conversion')
 AND i.suspected_bot_click IS NOT TRUE
 AND i.interacted_at >= e.sent_at
 AND i.interacted_at < e.sent_at + %(response_window)s::interval
WHERE i.load_id IN (SELECT load_id FROM load_log WHERE status = 'published')
  AND COALESCE((
      SELECT o.interaction_type = 'opt_out'
      FROM sms_interactions o
      WHERE o.phone_e164 = i.phone_e164
        AND o.interaction_type IN ('opt_out', 'opt_in')
        AND o.interacted_at <= i.interacted_at
        AND o.load_id IN (SELECT load_id FROM load_log WHERE status = 'published')
      ORDER BY o.interacted_at DESC, o.event_id DESC
      LIMIT 1), false) = false
GROUP BY e.phone_e164;

ANALYZE segment_refresh_responses;

-- 3. The members: responders with their first response, response types and action names;
--    non-responders with null response columns.
INSERT INTO segment_members (
    segment_run_id, segment, mailing_name, phone_e164, contact_id, sent_at,
    first_response_at, response_types, action_names
)
SELECT %(run_id)s,
       CASE WHEN r.phone_e164 IS NULL THEN 'non_responders' ELSE 'responders' END,
       %(mailing)s, e.phone_e164, e.contact_id, e.sent_at,
       r.first_response_at, r.response_types, r.action_names
FROM segment_refresh_sends e
LEFT JOIN segment_refresh_responses r ON r.phone_e164 = e.phone_e164
