-- Mailings seen in the window's events. LEAST/COALESCE make the result independent of load order.
INSERT INTO mailings (mailing_name, campaign_code, source, first_seen_at)
SELECT mailing_name, min(campaign_code), 'events', min(event_time)
FROM (
    SELECT mailing_name, campaign_code, sent_at AS event_time FROM sms_sent WHERE load_id = %(load_id)s
    UNION ALL
    SELECT mailing_name, NULL, interacted_at FROM sms_interactions WHERE load_id = %(load_id)s
) seen
GROUP BY mailing_name
ON CONFLICT (mailing_name) DO UPDATE
SET first_seen_at = LEAST(mailings.first_seen_at, EXCLUDED.first_seen_at),
    campaign_code = COALESCE(mailings.campaign_code, EXCLUDED.campaign_code)
