-- The mailings of the rows a window (load unit) holds. Parameter: load_id.
SELECT mailing_name FROM sms_sent WHERE load_id = %(load_id)s
UNION
SELECT mailing_name FROM sms_interactions WHERE load_id = %(load_id)s
ORDER BY 1
