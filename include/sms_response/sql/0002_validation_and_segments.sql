-- Validation results per window, and versioned responder / non-responder segments.

CREATE TABLE validation_runs (
    validation_id  bigserial PRIMARY KEY,
    load_id        text NOT NULL REFERENCES load_log (load_id) ON DELETE CASCADE,
    run_id         text,
    success        boolean NOT NULL,
    critical_failures integer NOT NULL,
    warnings       integer NOT NULL,
    results        jsonb NOT NULL,
    data_docs_path text,
    validated_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms    bigint
);
CREATE INDEX validation_runs_load_id ON validation_runs (load_id, validated_at DESC);

-- Hard delivery failures: numbers that can never receive SMS (excluded from segments).
CREATE TABLE hard_failure_codes (
    status_code integer PRIMARY KEY,
    meaning     text NOT NULL
);
INSERT INTO hard_failure_codes VALUES
    (30005, 'unknown destination'), (30006, 'landline or unreachable carrier'),
    (21211, 'invalid number'), (21614, 'not a mobile number');

CREATE TABLE segment_runs (
    segment_run_id   bigserial PRIMARY KEY,
    mailing_name     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    response_window  interval NOT NULL,
    trigger          jsonb NOT NULL DEFAULT '{}'::jsonb,
    responders       bigint,
    non_responders   bigint,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX segment_runs_mailing ON segment_runs (mailing_name, segment_run_id DESC);

CREATE TABLE segment_members (
    segment_run_id    bigint NOT NULL REFERENCES segment_runs ON DELETE CASCADE,
    segment           text NOT NULL CHECK (segment IN ('responders', 'non_responders')),
    mailing_name      text NOT NULL,
    phone_e164        text NOT NULL,
    contact_id        text,
    sent_at           timestamptz NOT NULL,
    first_response_at timestamptz,
    response_types    text[],
    action_names      text[],
    PRIMARY KEY (segment_run_id, phone_e164)
);

-- The run each mailing's views show; switched in the same transaction that completes a run,
-- so a reader sees the previous complete run or the new one, never a mix.
CREATE TABLE segment_current (
    mailing_name   text PRIMARY KEY,
    segment_run_id bigint NOT NULL REFERENCES segment_runs
);

CREATE VIEW responders AS
SELECT m.mailing_name, m.phone_e164, m.contact_id, m.sent_at, m.first_response_at, m.response_types,
       m.action_names, m.segment_run_id
FROM segment_members m JOIN segment_current c USING (segment_run_id)
WHERE m.segment = 'responders';

CREATE VIEW non_responders AS
SELECT m.mailing_name, m.phone_e164, m.contact_id, m.sent_at, m.segment_run_id
FROM segment_members m JOIN segment_current c USING (segment_run_id)
WHERE m.segment = 'non_responders';
