-- Recompute campaign totals from the per-mailing metric tables (never from the event tables): sums of
-- messages and events over the campaign's mailings, distinct phones over its recipients (a phone texted
-- by three blasts is one recipient of the campaign). Parameter: campaigns (text[]).

DELETE FROM metric_campaigns WHERE campaign_code = ANY (%(campaigns)s);

INSERT INTO metric_campaigns (
    campaign_code, mailings, first_sent_at, last_sent_at, sent, recipients, delivered, failed, undelivered,
    delivered_recipients, parts, credits, credits_undelivered, clicks, unique_clickers, responders, replies,
    repliers, opt_outs, conversions, converters, conversion_value
)
WITH sums AS (
    SELECT campaign_code, count(*) AS mailings, min(first_sent_at) AS first_sent_at,
           max(last_sent_at) AS last_sent_at, sum(sent) AS sent, sum(delivered) AS delivered,
           sum(failed) AS failed, sum(undelivered) AS undelivered, sum(parts) AS parts, sum(credits) AS credits,
           sum(credits_undelivered) AS credits_undelivered, sum(clicks) AS clicks, sum(replies) AS replies,
           sum(conversions) AS conversions, sum(conversion_value) AS conversion_value
    FROM metric_mailings
    WHERE campaign_code = ANY (%(campaigns)s)
    GROUP BY campaign_code
), phones AS (
    SELECT campaign_code, phone_e164,
           bool_or(messages > 0) AS texted,
           bool_or(first_delivered_at IS NOT NULL) AS delivered,
           bool_or(clicks > 0) AS clicked,
           bool_or(first_response_at IS NOT NULL) AS responded,
           bool_or(replies > 0) AS replied,
           bool_or(opted_out) AS opted_out,
           bool_or(conversions > 0) AS converted
    FROM metric_recipients
    WHERE campaign_code = ANY (%(campaigns)s) AND messages > 0  -- each mailing's recipients only
    GROUP BY campaign_code, phone_e164
), distinct_phones AS (
    SELECT campaign_code,
           count(*) FILTER (WHERE texted) AS recipients,
           count(*) FILTER (WHERE delivered) AS delivered_recipients,
           count(*) FILTER (WHERE clicked) AS unique_clickers,
           count(*) FILTER (WHERE responded) AS responders,
           count(*) FILTER (WHERE replied) AS repliers,
           count(*) FILTER (WHERE opted_out) AS opt_outs,
           count(*) FILTER (WHERE converted) AS converters
    FROM phones GROUP BY campaign_code
)
SELECT s.campaign_code, s.mailings, s.first_sent_at, s.last_sent_at, s.sent, d.recipients, s.delivered, s.failed,
       s.undelivered, d.delivered_recipients, s.parts, s.credits, s.credits_undelivered, s.clicks,
       d.unique_clickers, d.responders, s.replies, d.repliers, d.opt_outs, s.conversions, d.converters,
       s.conversion_value
FROM sums s JOIN distinct_phones d USING (campaign_code)
