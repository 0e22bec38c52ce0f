-- Campaign waves: contacts (audience attributes), wave recipients (exactly-once send state) and
-- per-recipient, per-link short links.

CREATE TABLE contacts (
    phone_e164   text PRIMARY KEY,
    contact_id   text,
    email        text,
    given_name   text,
    surname      text,
    postal_code  text,
    birthdate    date,
    custom       jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE wave_recipients (
    mailing_name     text NOT NULL REFERENCES mailings (mailing_name),
    phone_e164       text NOT NULL,
    contact_id       text,
    source_mailing   text NOT NULL,
    segment          text NOT NULL CHECK (segment IN ('responders', 'non_responders')),
    variant          text,
    holdout          boolean NOT NULL DEFAULT false,
    phase            text NOT NULL DEFAULT 'full' CHECK (phase IN ('sample', 'full')),
    idempotency_key  text NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'holdout', 'sending', 'sent', 'dropped', 'skipped_opted_out', 'failed')),
    message_parts    integer,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailing_name, phone_e164)
);
CREATE INDEX wave_recipients_status ON wave_recipients (mailing_name, status);

CREATE TABLE short_links (
    token        text PRIMARY KEY,
    mailing_name text NOT NULL,
    phone_e164   text NOT NULL,
    link_index   integer NOT NULL,
    target_url   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (mailing_name, phone_e164, link_index)
);
