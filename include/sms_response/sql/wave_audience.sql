-- The audience of a wave: every candidate with its contact attributes, its deciding consent record now and, for
-- those it may not text, the first reason why (NULL: in the audience). In order:
--   already_planned  already a recipient of the target mailing;
--   opted_out        opted out now (sms_consent, or the latest opt keyword event, published or not: belt and braces);
--   no_consent       the consent policy does not allow it (consent_allows over the deciding record);
--   hard_failure     a send to the phone ever hard-failed (hard_failure_codes), when asked;
--   holdout          in the holdout of the given earlier wave, when asked;
--   frequency_cap    at least cap messages in the last cap_days days: distinct mailings with a send to the
--                    phone (imported sends and wave recipients planned or sent, holdouts and waves that stopped
--                    excluded), when cap > 0.
-- Parameters: target, policy, exclude_hard, holdout_of, cap, cap_days.
WITH cand AS (
    SELECT array_agg(phone_e164) AS phones FROM wave_candidates
), consent AS (
    SELECT * FROM consent_as_of(now(), (SELECT phones FROM cand))
)
SELECT w.phone_e164, c.contact_id, c.email, c.given_name, c.surname, c.postal_code, c.birthdate,
       coalesce(c.custom, '{}'::jsonb) AS custom,
       k.status, k.source, k.source_ref, k.recorded_at, k.record_id, k.event_id,
       CASE
           WHEN EXISTS (SELECT 1 FROM wave_recipients t
                        WHERE t.mailing_name = %(target)s AND t.phone_e164 = w.phone_e164) THEN 'already_planned'
           WHEN EXISTS (SELECT 1 FROM sms_consent o WHERE o.phone_e164 = w.phone_e164 AND o.status = 'opted_out')
             OR coalesce((SELECT i.interaction_type = 'opt_out' FROM sms_interactions i
                          WHERE i.phone_e164 = w.phone_e164 AND i.interaction_type IN ('opt_out', 'opt_in')
                          ORDER BY i.interacted_at DESC, i.event_id DESC LIMIT 1), false) THEN 'opted_out'
           WHEN NOT coalesce(consent_allows(%(policy)s, k.status), false) THEN 'no_consent'
           WHEN %(exclude_hard)s AND EXISTS (
               SELECT 1 FROM sms_sent s
               WHERE s.phone_e164 = w.phone_e164
                 AND s.status_code IN (SELECT status_code FROM hard_failure_codes)) THEN 'hard_failure'
           WHEN %(holdout_of)s <> '' AND EXISTS (
               SELECT 1 FROM wave_recipients h
               WHERE h.mailing_name = %(holdout_of)s AND h.phone_e164 = w.phone_e164 AND h.holdout) THEN 'holdout'
           WHEN %(cap)s > 0 AND (
               SELECT count(*) FROM (
                   SELECT s.mailing_name FROM sms_sent s
                   WHERE s.phone_e164 = w.phone_e164
                     AND s.sent_at >= now() - make_interval(days => %(cap_days)s)
                   UNION
                   SELECT r.mailing_name FROM wave_recipients r JOIN wave_runs u USING (mailing_name)
                   WHERE r.phone_e164 = w.phone_e164
                     AND r.status IN ('pending', 'sending', 'sent')
                     AND u.status NOT IN ('dry_run', 'sample_failed', 'failed')
                     AND coalesce(r.sent_at, r.planned_at) >= now() - make_interval(days => %(cap_days)s)
               ) sent) >= %(cap)s THEN 'frequency_cap'
       END AS excluded_by
FROM wave_candidates w
LEFT JOIN contacts c ON c.phone_e164 = w.phone_e164
LEFT JOIN consent k ON k.phone_e164 = w.phone_e164
ORDER BY w.phone_e164
