-- One row per campaign wave (its mailing): the request, the plan and where the wave stands.
-- request_key identifies the request that created it (DAG id + run id), so a retried or re-run
-- task finds the same wave and mailing name instead of creating a second one.

CREATE TABLE wave_runs (
    mailing_name    text PRIMARY KEY REFERENCES mailings (mailing_name),
    request_key     text NOT NULL UNIQUE,
    campaign_code   text NOT NULL,
    wave_name       text NOT NULL,
    source_mailing  text NOT NULL,
    segment         text NOT NULL CHECK (segment IN ('responders', 'non_responders')),
    params          jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'planned' CHECK (status IN (
        'planned', 'dry_run', 'profiles_updated', 'sample_sent', 'sample_passed', 'sample_failed',
        'sending', 'completed', 'failed')),
    reason          text,
    winner          text,
    sample_stats    jsonb,
    audience_size   integer,
    holdout_size    integer,
    message_parts   integer,
    credits         integer,
    import_id       text,
    dropped_unknown integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE wave_recipients
    ADD COLUMN message_body  text,
    ADD COLUMN send_after    timestamptz,
    ADD COLUMN message_id    text,
    ADD COLUMN sent_at       timestamptz,
    ADD COLUMN batch_no      integer,
    ADD COLUMN reason        text;
