-- Response-tracking tables. Unqualified names: the migration runs with search_path = the response schema.

CREATE TABLE mailings (
    mailing_name   text PRIMARY KEY,
    campaign_code  text,
    source         text NOT NULL DEFAULT 'events' CHECK (source IN ('events', 'wave')),
    first_seen_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per load unit (a window, or a filtered window); its rows carry load_id.
CREATE TABLE load_log (
    load_id             text PRIMARY KEY,
    window_start        timestamptz NOT NULL,
    window_end          timestamptz NOT NULL,
    filters             jsonb NOT NULL DEFAULT '{}'::jsonb,
    status              text NOT NULL,
    run_id              text,
    downloaded          bigint,
    imported            bigint,
    imported_sent       bigint,
    imported_interactions bigint,
    duplicates          bigint,
    duplicates_in_window bigint,
    rejected            bigint,
    late                bigint,
    manifest_sha256     text,
    attempts            integer NOT NULL DEFAULT 0,
    started_at          timestamptz,
    finished_at         timestamptz,
    duration_ms         bigint,
    message             text,
    CHECK (window_end > window_start)
);

-- Partitioned tables cannot enforce uniqueness of event_id alone (the key must include the
-- partition column), so this small unpartitioned index owns global de-duplication.
CREATE TABLE event_index (
    event_id    text PRIMARY KEY,
    event_code  text NOT NULL,
    event_time  timestamptz NOT NULL,
    load_id     text NOT NULL
);
CREATE INDEX event_index_load_id ON event_index (load_id);

CREATE TABLE sms_sent (
    event_id        text NOT NULL,
    mailing_name    text NOT NULL,
    campaign_code   text,
    phone_e164      text NOT NULL,
    contact_id      text,
    sent_at         timestamptz NOT NULL,
    delivery_status text NOT NULL,
    status_code     integer,
    message_parts   integer,
    program_id      text,
    program         text,
    carrier         text,
    message_body    text,
    attributes      jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_late         boolean NOT NULL DEFAULT false,
    load_id         text NOT NULL,
    PRIMARY KEY (event_id, sent_at)
) PARTITION BY RANGE (sent_at);
CREATE INDEX sms_sent_mailing_phone ON sms_sent (mailing_name, phone_e164);
CREATE INDEX sms_sent_load_id ON sms_sent (load_id);

CREATE TABLE sms_interactions (
    event_id         text NOT NULL,
    mailing_name     text NOT NULL,
    phone_e164       text NOT NULL,
    contact_id       text,
    interacted_at    timestamptz NOT NULL,
    interaction_type text NOT NULL
        CHECK (interaction_type IN ('click', 'reply', 'action', 'opt_out', 'opt_in', 'conversion')),
    url              text,
    link_token       text,
    action_name      text,
    reply_text       text,
    keyword          text,
    conversion_value numeric,
    attributes       jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_late          boolean NOT NULL DEFAULT false,
    load_id          text NOT NULL,
    PRIMARY KEY (event_id, interacted_at)
) PARTITION BY RANGE (interacted_at);
CREATE INDEX sms_interactions_mailing_phone ON sms_interactions (mailing_name, phone_e164);
CREATE INDEX sms_interactions_phone_time ON sms_interactions (phone_e164, interacted_at);
CREATE INDEX sms_interactions_load_id ON sms_interactions (load_id);

-- Quarantine: every record that could not be imported, with the reason and where it was.
CREATE TABLE event_rejects (
    load_id   text NOT NULL,
    position  text NOT NULL,
    reason    text NOT NULL,
    raw       text NOT NULL,
    PRIMARY KEY (load_id, position)
);

-- Current opt status per phone, derived from sms_interactions (latest opt_out/opt_in wins).
CREATE TABLE sms_consent (
    phone_e164    text PRIMARY KEY,
    status        text NOT NULL CHECK (status IN ('opted_out', 'opted_in')),
    event_id      text NOT NULL,
    changed_at    timestamptz NOT NULL,
    keyword       text,
    mailing_name  text
);
