-- Mailings whose figures a set of loaded windows can change beyond the mailings they carry: an opt-out
-- or opt-in (any mailing) decides whether later responses of that phone to other mailings count.
SELECT DISTINCT i.mailing_name
FROM sms_interactions i
WHERE i.phone_e164 IN (
    SELECT o.phone_e164 FROM sms_interactions o
    WHERE o.load_id = ANY (%(load_ids)s) AND o.interaction_type IN ('opt_out', 'opt_in')
)
