-- Campaign metrics: tables refreshed per mailing from published windows (sms_response.metrics), read
-- through the report_* views. Reading a report never scans the event tables. Definitions: docs/metrics.md.

-- One row per recipient (phone) of a mailing: the facts every per-recipient figure is counted from,
-- and what campaign-wide distinct counts are aggregated from. A phone with events of the mailing but no
-- message of it (a holdout member who converted, a click on an old link) has messages 0, no first_sent_at.
CREATE TABLE metric_recipients (
    mailing_name       text NOT NULL,
    phone_e164         text NOT NULL,
    campaign_code      text,
    messages           integer NOT NULL,
    first_sent_at      timestamptz,
    first_delivered_at timestamptz,
    clicks             integer NOT NULL DEFAULT 0,
    first_click_at     timestamptz,
    replies            integer NOT NULL DEFAULT 0,
    actions            integer NOT NULL DEFAULT 0,
    conversions        integer NOT NULL DEFAULT 0,
    conversion_value   numeric NOT NULL DEFAULT 0,
    opted_out          boolean NOT NULL DEFAULT false,
    first_response_at  timestamptz,
    PRIMARY KEY (mailing_name, phone_e164)
);
CREATE INDEX metric_recipients_campaign ON metric_recipients (campaign_code, phone_e164);

CREATE TABLE metric_mailings (
    mailing_name          text PRIMARY KEY,
    campaign_code         text,
    source                text,
    first_sent_at         timestamptz,
    last_sent_at          timestamptz,
    sent                  bigint NOT NULL,
    recipients            bigint NOT NULL,
    delivered             bigint NOT NULL,
    failed                bigint NOT NULL,
    undelivered           bigint NOT NULL,
    delivered_recipients  bigint NOT NULL,
    parts                 bigint NOT NULL,
    parts_gsm7            bigint NOT NULL,
    parts_ucs2            bigint NOT NULL,
    credits               numeric NOT NULL,
    credits_undelivered   numeric NOT NULL,
    clicks                bigint NOT NULL,
    unique_clickers       bigint NOT NULL,
    responders            bigint NOT NULL,
    replies               bigint NOT NULL,
    repliers              bigint NOT NULL,
    opt_outs              bigint NOT NULL,
    conversions           bigint NOT NULL,
    converters            bigint NOT NULL,
    conversion_value      numeric NOT NULL,
    response_window_hours integer NOT NULL,
    refreshed_at          timestamptz NOT NULL DEFAULT now()
);

-- Messages per day (UTC) of a mailing, and events per day: the input of campaign trends.
CREATE TABLE metric_mailing_days (
    mailing_name  text NOT NULL,
    day           date NOT NULL,
    sent          bigint NOT NULL DEFAULT 0,
    delivered     bigint NOT NULL DEFAULT 0,
    credits       numeric NOT NULL DEFAULT 0,
    clicks        bigint NOT NULL DEFAULT 0,
    responders    bigint NOT NULL DEFAULT 0,
    replies       bigint NOT NULL DEFAULT 0,
    opt_outs      bigint NOT NULL DEFAULT 0,
    conversions   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (mailing_name, day)
);

CREATE TABLE metric_failures (
    mailing_name    text NOT NULL,
    delivery_status text NOT NULL,
    status_code     integer,
    carrier         text,
    messages        bigint NOT NULL,
    credits         numeric NOT NULL
);
CREATE INDEX metric_failures_mailing ON metric_failures (mailing_name);

CREATE TABLE metric_links (
    mailing_name            text NOT NULL,
    link_index              integer,
    target_url              text NOT NULL,
    clicks                  bigint NOT NULL,
    unique_clickers         bigint NOT NULL,
    median_minutes_to_click double precision
);
CREATE INDEX metric_links_mailing ON metric_links (mailing_name);

CREATE TABLE metric_actions (
    mailing_name      text NOT NULL,
    action_name       text NOT NULL,
    taps              bigint NOT NULL,
    unique_responders bigint NOT NULL,
    PRIMARY KEY (mailing_name, action_name)
);

CREATE TABLE metric_inbox (
    mailing_name        text NOT NULL,
    event_id            text NOT NULL,
    phone_e164          text NOT NULL,
    replied_at          timestamptz NOT NULL,
    reply_text          text,
    keyword             text,
    classification      text NOT NULL CHECK (classification IN ('opt_out', 'opt_in', 'free_text')),
    minutes_since_send  double precision,
    is_latest           boolean NOT NULL,
    PRIMARY KEY (mailing_name, event_id)
);

CREATE TABLE metric_response_timing (
    mailing_name text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('minutes_to_respond', 'hour_of_day')),
    bucket       integer NOT NULL,
    label        text NOT NULL,
    responders   bigint NOT NULL,
    PRIMARY KEY (mailing_name, kind, bucket)
);

-- A wave's groups: each A/B variant of the texted audience, and the holdout (never texted).
CREATE TABLE metric_variants (
    mailing_name      text NOT NULL,
    variant_group     text NOT NULL,
    is_holdout        boolean NOT NULL,
    assigned          bigint NOT NULL,
    sent              bigint NOT NULL,
    delivered         bigint NOT NULL,
    clicks            bigint NOT NULL,
    unique_clickers   bigint NOT NULL,
    responders        bigint NOT NULL,
    lift_responders   bigint NOT NULL,
    lift_converters   bigint NOT NULL,
    converters        bigint NOT NULL,
    conversion_value  numeric NOT NULL,
    PRIMARY KEY (mailing_name, variant_group)
);

-- Lift of the texted group over the holdout, per outcome, with a 95 % Newcombe interval.
CREATE TABLE metric_lift (
    mailing_name  text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('response', 'conversion')),
    texted        bigint NOT NULL,
    texted_hits   bigint NOT NULL,
    holdout       bigint NOT NULL,
    holdout_hits  bigint NOT NULL,
    texted_rate   double precision,
    holdout_rate  double precision,
    lift          double precision,
    ci_low        double precision,
    ci_high       double precision,
    significant   boolean,
    PRIMARY KEY (mailing_name, outcome)
);

CREATE TABLE metric_campaigns (
    campaign_code         text PRIMARY KEY,
    mailings              bigint NOT NULL,
    first_sent_at         timestamptz,
    last_sent_at          timestamptz,
    sent                  bigint NOT NULL,
    recipients            bigint NOT NULL,
    delivered             bigint NOT NULL,
    failed                bigint NOT NULL,
    undelivered           bigint NOT NULL,
    delivered_recipients  bigint NOT NULL,
    parts                 bigint NOT NULL,
    credits               numeric NOT NULL,
    credits_undelivered   numeric NOT NULL,
    clicks                bigint NOT NULL,
    unique_clickers       bigint NOT NULL,
    responders            bigint NOT NULL,
    replies               bigint NOT NULL,
    repliers              bigint NOT NULL,
    opt_outs              bigint NOT NULL,
    conversions           bigint NOT NULL,
    converters            bigint NOT NULL,
    conversion_value      numeric NOT NULL,
    refreshed_at          timestamptz NOT NULL DEFAULT now()
);

-- Rates, each defined once here (docs/metrics.md): per-recipient rates over delivered recipients, the
-- delivery rate over messages sent, costs per responder and converter; NULL when the denominator is 0.
CREATE FUNCTION metric_rates(
    sent bigint, delivered bigint, delivered_recipients bigint, unique_clickers bigint, responders bigint,
    repliers bigint, opt_outs bigint, converters bigint, credits numeric
) RETURNS TABLE (
    delivery_rate float8, click_rate float8, response_rate float8, reply_rate float8, unsubscribe_rate float8,
    conversion_rate float8, cost_per_response numeric, cost_per_conversion numeric
) LANGUAGE sql IMMUTABLE AS $$
    SELECT delivered::float8 / NULLIF(sent, 0),
           unique_clickers::float8 / NULLIF(delivered_recipients, 0),
           responders::float8 / NULLIF(delivered_recipients, 0),
           repliers::float8 / NULLIF(delivered_recipients, 0),
           opt_outs::float8 / NULLIF(delivered_recipients, 0),
           converters::float8 / NULLIF(delivered_recipients, 0),
           credits / NULLIF(responders, 0),
           credits / NULLIF(converters, 0)
$$;

CREATE VIEW report_mailings AS
SELECT m.*, r.*
FROM metric_mailings m
CROSS JOIN LATERAL metric_rates(m.sent, m.delivered, m.delivered_recipients, m.unique_clickers, m.responders,
                                m.repliers, m.opt_outs, m.converters, m.credits) r;

CREATE VIEW report_campaigns AS
SELECT c.*, r.*
FROM metric_campaigns c
CROSS JOIN LATERAL metric_rates(c.sent, c.delivered, c.delivered_recipients, c.unique_clickers, c.responders,
                                c.repliers, c.opt_outs, c.converters, c.credits) r;

CREATE VIEW report_campaign_days AS
SELECT g.campaign_code, d.day,
       sum(d.sent) AS sent, sum(d.delivered) AS delivered, sum(d.credits) AS credits,
       sum(d.clicks) AS clicks, sum(d.responders) AS responses, sum(d.replies) AS replies,
       sum(d.opt_outs) AS opt_outs, sum(d.conversions) AS conversions
FROM metric_mailing_days d
JOIN metric_mailings g ON g.mailing_name = d.mailing_name
GROUP BY g.campaign_code, d.day;

CREATE VIEW report_links AS
SELECT l.*, l.unique_clickers::float8 / NULLIF(m.delivered_recipients, 0) AS click_rate
FROM metric_links l JOIN metric_mailings m USING (mailing_name);

CREATE VIEW report_actions AS
SELECT a.*, a.unique_responders::float8 / NULLIF(m.responders, 0) AS share_of_responders
FROM metric_actions a JOIN metric_mailings m USING (mailing_name);

-- A wave's groups: rates over the group's delivered recipients (NULL for the holdout, never texted).
CREATE VIEW report_variants AS
SELECT v.*,
       v.unique_clickers::float8 / NULLIF(v.delivered, 0) AS click_rate,
       v.responders::float8 / NULLIF(v.delivered, 0)      AS response_rate,
       v.converters::float8 / NULLIF(v.delivered, 0)      AS conversion_rate
FROM metric_variants v;
