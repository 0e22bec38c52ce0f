-- The mailings a published window touched: those of its rows, and those its last reloads removed.
-- Parameter: load_id.
SELECT mailing_name FROM sms_sent WHERE load_id = %(load_id)s
UNION
SELECT mailing_name FROM sms_interactions WHERE load_id = %(load_id)s
UNION
SELECT unnest(mailings) FROM load_log WHERE load_id = %(load_id)s
ORDER BY 1
