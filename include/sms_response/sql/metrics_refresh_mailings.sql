-- Recompute the metric rows of some mailings from the rows of published windows, in one transaction
-- (the caller's). Definitions: docs/metrics.md; the response rule is the segments' (segments_members.sql).
-- Parameters: mailings (text[]), response_window (interval), gsm7_regex (text: a message body of only
-- GSM-7 characters), price_gsm7, price_ucs2 (credits per message part). Statements split on semicolons.

CREATE TEMP TABLE mx_published ON COMMIT DROP AS
SELECT load_id FROM load_log WHERE status = 'published';

-- Messages of the mailings, with their encoding and credits.
CREATE TEMP TABLE mx_sent ON COMMIT DROP AS
SELECT s.event_id, s.mailing_name, s.phone_e164, s.sent_at, s.delivery_status, s.status_code, s.carrier,
       coalesce(s.message_parts, 1) AS parts,
       (s.message_body IS NULL OR s.message_body ~ %(gsm7_regex)s) AS gsm7,
       coalesce(s.message_parts, 1)
         * CASE WHEN s.message_body IS NULL OR s.message_body ~ %(gsm7_regex)s
                THEN %(price_gsm7)s::numeric ELSE %(price_ucs2)s::numeric END AS credits
FROM sms_sent s
WHERE s.mailing_name = ANY (%(mailings)s)
  AND s.load_id IN (SELECT load_id FROM mx_published);

ANALYZE mx_sent;

CREATE TEMP TABLE mx_inter ON COMMIT DROP AS
SELECT i.event_id, i.mailing_name, i.phone_e164, i.interacted_at, i.interaction_type, i.url, i.link_token,
       i.action_name, i.reply_text, i.keyword, coalesce(i.conversion_value, 0) AS conversion_value
FROM sms_interactions i
WHERE i.mailing_name = ANY (%(mailings)s)
  AND i.load_id IN (SELECT load_id FROM mx_published)
  AND i.suspected_bot_click IS NOT TRUE;  -- a suspected bot's click is kept in the table, never counted

ANALYZE mx_inter;

-- Each phone's first send (any status) and first delivered send of each mailing (ties by event_id).
CREATE TEMP TABLE mx_first ON COMMIT DROP AS
SELECT mailing_name, phone_e164,
       count(*) AS messages,
       min(sent_at) AS first_sent_at,
       min(sent_at) FILTER (WHERE delivery_status = 'delivered') AS first_delivered_at
FROM mx_sent
GROUP BY mailing_name, phone_e164;

ANALYZE mx_first;

-- Interactions of the mailings' recipients (phones with a message of the mailing): a mailing's figures
-- are about its recipients. Events of phones it never texted (a wave's holdout converting by another
-- path, a forwarded link) count only in the wave's groups (metric_variants), from mx_inter.
CREATE TEMP TABLE mx_rinter ON COMMIT DROP AS
SELECT i.* FROM mx_inter i
WHERE EXISTS (SELECT 1 FROM mx_first f WHERE f.mailing_name = i.mailing_name AND f.phone_e164 = i.phone_e164);

ANALYZE mx_rinter;

-- When each phone with an interaction of the mailings was opted out: spans from a published opt_out to
-- the phone's next published opt event (any mailing), ordered by time then event_id (the latest event at
-- an instant wins). "Not opted out at t" = no span contains t.
CREATE TEMP TABLE mx_opted_out ON COMMIT DROP AS
SELECT phone_e164, from_at, until_at
FROM (
    SELECT o.phone_e164, o.interaction_type, o.interacted_at AS from_at,
           lead(o.interacted_at) OVER (PARTITION BY o.phone_e164 ORDER BY o.interacted_at, o.event_id) AS until_at
    FROM sms_interactions o
    WHERE o.interaction_type IN ('opt_out', 'opt_in')
      AND o.load_id IN (SELECT load_id FROM mx_published)
      AND o.phone_e164 IN (SELECT phone_e164 FROM mx_inter)
) spans
WHERE interaction_type = 'opt_out';

CREATE INDEX ON mx_opted_out (phone_e164, from_at);
ANALYZE mx_opted_out;

-- Qualifying responses (the segments' rule): a click, reply, action or conversion of the mailing within
-- [first delivered send, + response window), at an instant the phone was not opted out (its latest
-- published opt_out/opt_in, any mailing, at or before that instant, is not an opt_out).
CREATE TEMP TABLE mx_responses ON COMMIT DROP AS
SELECT i.mailing_name, i.phone_e164, i.event_id, i.interaction_type, i.action_name, i.interacted_at,
       f.first_delivered_at
FROM mx_inter i
JOIN mx_first f ON f.mailing_name = i.mailing_name AND f.phone_e164 = i.phone_e164
WHERE i.interaction_type IN ('click', 'reply', 'action', 'conversion')
  AND f.first_delivered_at IS NOT NULL
  AND i.interacted_at >= f.first_delivered_at
  AND i.interacted_at < f.first_delivered_at + %(response_window)s::interval
  AND NOT EXISTS (
      SELECT 1 FROM mx_opted_out o
      WHERE o.phone_e164 = i.phone_e164 AND o.from_at <= i.interacted_at
        AND (o.until_at IS NULL OR i.interacted_at < o.until_at));

ANALYZE mx_responses;

DELETE FROM metric_recipients WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_mailings WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_mailing_days WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_failures WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_links WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_actions WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_inbox WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_response_timing WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_variants WHERE mailing_name = ANY (%(mailings)s);
DELETE FROM metric_lift WHERE mailing_name = ANY (%(mailings)s);

-- Every phone with a message or an interaction of the mailing.
INSERT INTO metric_recipients (
    mailing_name, phone_e164, campaign_code, messages, first_sent_at, first_delivered_at, clicks, first_click_at,
    replies, actions, conversions, conversion_value, opted_out, first_response_at
)
WITH inter AS (
    SELECT mailing_name, phone_e164,
           count(*) FILTER (WHERE interaction_type = 'click') AS clicks,
           min(interacted_at) FILTER (WHERE interaction_type = 'click') AS first_click_at,
           count(*) FILTER (WHERE interaction_type = 'reply') AS replies,
           count(*) FILTER (WHERE interaction_type = 'action') AS actions,
           count(*) FILTER (WHERE interaction_type = 'conversion') AS conversions,
           coalesce(sum(conversion_value) FILTER (WHERE interaction_type = 'conversion'), 0) AS conversion_value,
           bool_or(interaction_type = 'opt_out') AS opted_out
    FROM mx_inter
    GROUP BY mailing_name, phone_e164
), resp AS (
    SELECT mailing_name, phone_e164, min(interacted_at) AS first_response_at
    FROM mx_responses GROUP BY mailing_name, phone_e164
), phones AS (
    SELECT mailing_name, phone_e164 FROM mx_first
    UNION
    SELECT mailing_name, phone_e164 FROM inter
)
SELECT p.mailing_name, p.phone_e164, m.campaign_code,
       coalesce(f.messages, 0), f.first_sent_at, f.first_delivered_at,
       coalesce(i.clicks, 0), i.first_click_at, coalesce(i.replies, 0), coalesce(i.actions, 0),
       coalesce(i.conversions, 0), coalesce(i.conversion_value, 0), coalesce(i.opted_out, false),
       r.first_response_at
FROM phones p
LEFT JOIN mailings m ON m.mailing_name = p.mailing_name
LEFT JOIN mx_first f ON f.mailing_name = p.mailing_name AND f.phone_e164 = p.phone_e164
LEFT JOIN inter i ON i.mailing_name = p.mailing_name AND i.phone_e164 = p.phone_e164
LEFT JOIN resp r ON r.mailing_name = p.mailing_name AND r.phone_e164 = p.phone_e164;

INSERT INTO metric_mailings (
    mailing_name, campaign_code, source, first_sent_at, last_sent_at, sent, recipients, delivered, failed,
    undelivered, delivered_recipients, parts, parts_gsm7, parts_ucs2, credits, credits_undelivered, clicks,
    unique_clickers, responders, replies, repliers, opt_outs, conversions, converters, conversion_value,
    response_window_hours
)
WITH msg AS (
    SELECT mailing_name,
           min(sent_at) AS first_sent_at, max(sent_at) AS last_sent_at, count(*) AS sent,
           count(*) FILTER (WHERE delivery_status = 'delivered') AS delivered,
           count(*) FILTER (WHERE delivery_status = 'failed') AS failed,
           count(*) FILTER (WHERE delivery_status = 'undelivered') AS undelivered,
           sum(parts) AS parts,
           coalesce(sum(parts) FILTER (WHERE gsm7), 0) AS parts_gsm7,
           coalesce(sum(parts) FILTER (WHERE NOT gsm7), 0) AS parts_ucs2,
           sum(credits) AS credits,
           coalesce(sum(credits) FILTER (WHERE delivery_status <> 'delivered'), 0) AS credits_undelivered
    FROM mx_sent GROUP BY mailing_name
), rec AS (
    SELECT mailing_name,
           count(*) FILTER (WHERE messages > 0) AS recipients,
           count(*) FILTER (WHERE first_delivered_at IS NOT NULL) AS delivered_recipients,
           sum(clicks) AS clicks, count(*) FILTER (WHERE clicks > 0) AS unique_clickers,
           count(*) FILTER (WHERE first_response_at IS NOT NULL) AS responders,
           sum(replies) AS replies, count(*) FILTER (WHERE replies > 0) AS repliers,
           count(*) FILTER (WHERE opted_out) AS opt_outs,
           sum(conversions) AS conversions, count(*) FILTER (WHERE conversions > 0) AS converters,
           sum(conversion_value) AS conversion_value
    FROM metric_recipients WHERE mailing_name = ANY (%(mailings)s) AND messages > 0 GROUP BY mailing_name
)
SELECT r.mailing_name, m.campaign_code, m.source, g.first_sent_at, g.last_sent_at,
       coalesce(g.sent, 0), r.recipients, coalesce(g.delivered, 0), coalesce(g.failed, 0),
       coalesce(g.undelivered, 0), r.delivered_recipients, coalesce(g.parts, 0), coalesce(g.parts_gsm7, 0),
       coalesce(g.parts_ucs2, 0), coalesce(g.credits, 0), coalesce(g.credits_undelivered, 0), r.clicks,
       r.unique_clickers, r.responders, r.replies, r.repliers, r.opt_outs, r.conversions, r.converters,
       r.conversion_value, (extract(epoch FROM %(response_window)s::interval) / 3600)::integer
FROM rec r
LEFT JOIN msg g ON g.mailing_name = r.mailing_name
LEFT JOIN mailings m ON m.mailing_name = r.mailing_name;

-- Per day (UTC): messages by the day they were sent, events by the day they happened, responders by the
-- day of their first response.
INSERT INTO metric_mailing_days (
    mailing_name, day, sent, delivered, credits, clicks, responders, replies, opt_outs, conversions
)
SELECT mailing_name, day, sum(sent), sum(delivered), sum(credits), sum(clicks), sum(responders), sum(replies),
       sum(opt_outs), sum(conversions)
FROM (
    SELECT mailing_name, (sent_at AT TIME ZONE 'UTC')::date AS day, 1 AS sent,
           (delivery_status = 'delivered')::int AS delivered, credits,
           0 AS clicks, 0 AS responders, 0 AS replies, 0 AS opt_outs, 0 AS conversions
    FROM mx_sent
    UNION ALL
    SELECT mailing_name, (interacted_at AT TIME ZONE 'UTC')::date, 0, 0, 0,
           (interaction_type = 'click')::int, 0, (interaction_type = 'reply')::int,
           (interaction_type = 'opt_out')::int, (interaction_type = 'conversion')::int
    FROM mx_rinter
    UNION ALL
    SELECT mailing_name, (first_response_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 1, 0, 0, 0
    FROM metric_recipients
    WHERE mailing_name = ANY (%(mailings)s) AND first_response_at IS NOT NULL
) d
GROUP BY mailing_name, day;

INSERT INTO metric_failures (mailing_name, delivery_status, status_code, carrier, messages, credits)
SELECT mailing_name, delivery_status, status_code, carrier, count(*), sum(credits)
FROM mx_sent
WHERE delivery_status <> 'delivered'
GROUP BY mailing_name, delivery_status, status_code, carrier;

-- Links: a click's short-link token names its link (short_links); a click without a known token is
-- reported under its URL. Minutes to click: from the phone's first send of the mailing to its first
-- click on that link.
INSERT INTO metric_links (mailing_name, link_index, target_url, clicks, unique_clickers, median_minutes_to_click)
WITH clicks AS (
    SELECT i.mailing_name, l.link_index, coalesce(l.target_url, i.url, '(unknown)') AS target_url,
           i.phone_e164, i.interacted_at
    FROM mx_rinter i
    LEFT JOIN short_links l ON l.token = i.link_token
    WHERE i.interaction_type = 'click'
), per_phone AS (
    SELECT c.mailing_name, c.link_index, c.target_url, c.phone_e164, count(*) AS clicks,
           min(c.interacted_at) AS first_click_at
    FROM clicks c GROUP BY 1, 2, 3, 4
)
SELECT p.mailing_name, p.link_index, p.target_url, sum(p.clicks), count(*),
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM p.first_click_at - f.first_sent_at) / 60.0)
FROM per_phone p
LEFT JOIN mx_first f ON f.mailing_name = p.mailing_name AND f.phone_e164 = p.phone_e164
GROUP BY p.mailing_name, p.link_index, p.target_url;

-- Tracked responses by action name: every tap, and the responders whose qualifying responses include it.
INSERT INTO metric_actions (mailing_name, action_name, taps, unique_responders)
SELECT t.mailing_name, t.action_name, t.taps, coalesce(r.responders, 0)
FROM (
    SELECT mailing_name, action_name, count(*) AS taps
    FROM mx_rinter WHERE interaction_type = 'action' AND action_name IS NOT NULL
    GROUP BY mailing_name, action_name
) t
LEFT JOIN (
    SELECT mailing_name, action_name, count(DISTINCT phone_e164) AS responders
    FROM mx_responses WHERE interaction_type = 'action' AND action_name IS NOT NULL
    GROUP BY mailing_name, action_name
) r ON r.mailing_name = t.mailing_name AND r.action_name = t.action_name;

-- Inbox: every reply, including STOP/START-family replies (stored as opt_out / opt_in).
INSERT INTO metric_inbox (
    mailing_name, event_id, phone_e164, replied_at, reply_text, keyword, classification, minutes_since_send,
    is_latest
)
SELECT i.mailing_name, i.event_id, i.phone_e164, i.interacted_at, i.reply_text, i.keyword,
       CASE i.interaction_type WHEN 'reply' THEN 'free_text' ELSE i.interaction_type END,
       extract(epoch FROM i.interacted_at - f.first_sent_at) / 60.0,
       row_number() OVER (PARTITION BY i.mailing_name, i.phone_e164
                          ORDER BY i.interacted_at DESC, i.event_id DESC) = 1
FROM mx_rinter i
LEFT JOIN mx_first f ON f.mailing_name = i.mailing_name AND f.phone_e164 = i.phone_e164
WHERE i.interaction_type = 'reply'
   OR (i.interaction_type IN ('opt_out', 'opt_in') AND (i.reply_text IS NOT NULL OR i.keyword IS NOT NULL));

-- Response timing of responders: minutes from the first delivered send to the first response, and the
-- hour of day (UTC) of the first response.
INSERT INTO metric_response_timing (mailing_name, kind, bucket, label, responders)
SELECT mailing_name, 'minutes_to_respond', b.bucket, b.label, count(*)
FROM metric_recipients r
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN m < 5 THEN 0 WHEN m < 15 THEN 5 WHEN m < 60 THEN 15 WHEN m < 180 THEN 60
        WHEN m < 720 THEN 180 WHEN m < 1440 THEN 720 ELSE 1440 END AS bucket
    FROM (SELECT extract(epoch FROM r.first_response_at - r.first_delivered_at) / 60.0 AS m) x
) k
JOIN (VALUES (0, '0–5 min'), (5, '5–15 min'), (15, '15–60 min'), (60, '1–3 h'), (180, '3–12 h'),
             (720, '12–24 h'), (1440, '24 h and more')) AS b (bucket, label) ON b.bucket = k.bucket
WHERE r.mailing_name = ANY (%(mailings)s) AND r.first_response_at IS NOT NULL
GROUP BY r.mailing_name, b.bucket, b.label
UNION ALL
SELECT mailing_name, 'hour_of_day', extract(hour FROM first_response_at AT TIME ZONE 'UTC')::int,
       lpad(extract(hour FROM first_response_at AT TIME ZONE 'UTC')::int::text, 2, '0') || ':00', count(*)
FROM metric_recipients
WHERE mailing_name = ANY (%(mailings)s) AND first_response_at IS NOT NULL
GROUP BY 1, 2, 3, 4;

-- A wave's groups: sent counts the group's messages in published windows (not the wave's send state), as
-- every other figure does. "Lift responders": a click, reply, action or conversion of the mailing within
-- [the wave's first send, + response window) while not opted out; the same clock for the texted groups
-- and the holdout, whose members were never texted but may still reply or convert by other paths.
INSERT INTO metric_variants (
    mailing_name, variant_group, is_holdout, assigned, sent, delivered, clicks, unique_clickers, responders,
    lift_responders, lift_converters, converters, conversion_value
)
WITH start AS (
    SELECT mailing_name, min(sent_at) AS started_at FROM mx_sent GROUP BY mailing_name
), lift AS (
    SELECT i.mailing_name, i.phone_e164,
           true AS responded, bool_or(i.interaction_type = 'conversion') AS converted
    FROM mx_inter i
    JOIN start s ON s.mailing_name = i.mailing_name
    WHERE i.interaction_type IN ('click', 'reply', 'action', 'conversion')
      AND i.interacted_at >= s.started_at
      AND i.interacted_at < s.started_at + %(response_window)s::interval
      AND NOT EXISTS (
          SELECT 1 FROM mx_opted_out o
          WHERE o.phone_e164 = i.phone_e164 AND o.from_at <= i.interacted_at
            AND (o.until_at IS NULL OR i.interacted_at < o.until_at))
    GROUP BY i.mailing_name, i.phone_e164
)
SELECT w.mailing_name,
       CASE WHEN w.holdout THEN 'holdout' ELSE coalesce(w.variant, 'A') END,
       w.holdout,
       count(*),
       coalesce(sum(r.messages), 0),
       count(*) FILTER (WHERE r.first_delivered_at IS NOT NULL),
       coalesce(sum(r.clicks), 0),
       count(*) FILTER (WHERE r.clicks > 0),
       count(*) FILTER (WHERE r.first_response_at IS NOT NULL),
       count(*) FILTER (WHERE l.responded),
       count(*) FILTER (WHERE l.converted),
       count(*) FILTER (WHERE r.conversions > 0),
       coalesce(sum(r.conversion_value), 0)
FROM wave_recipients w
LEFT JOIN metric_recipients r ON r.mailing_name = w.mailing_name AND r.phone_e164 = w.phone_e164
LEFT JOIN lift l ON l.mailing_name = w.mailing_name AND l.phone_e164 = w.phone_e164
WHERE w.mailing_name = ANY (%(mailings)s)
  -- A wave without published messages has no figures yet (as a full rebuild, which never visits it, says).
  AND w.mailing_name IN (SELECT mailing_name FROM metric_mailings)
GROUP BY w.mailing_name, 2, w.holdout;

-- ON COMMIT DROP only fires when the caller commits: drop the work tables now, so a caller may refresh
-- again (other mailings, or after more changes) in the same transaction.
DROP TABLE mx_responses, mx_opted_out, mx_rinter, mx_first, mx_inter, mx_sent, mx_published
