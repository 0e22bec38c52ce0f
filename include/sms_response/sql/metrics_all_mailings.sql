-- Every mailing with rows in a published window, plus those with metric rows (so a rebuild clears
-- figures whose rows are gone).
SELECT mailing_name FROM sms_sent WHERE load_id IN (SELECT load_id FROM load_log WHERE status = 'published')
UNION
SELECT mailing_name FROM sms_interactions
WHERE load_id IN (SELECT load_id FROM load_log WHERE status = 'published')
UNION
SELECT mailing_name FROM metric_mailings
