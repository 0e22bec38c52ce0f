-- Audiences beyond retargeting: a wave's recipients come from a segment, a view, a saved query or a list file,
-- under a consent policy, with the consent record each send relied on recorded for audit.

-- The audience source: a segment name for the segment source ('responders', 'non_responders'), else the kind of
-- source ('view', 'query', 'list'); a source mailing only where there is one.
ALTER TABLE wave_runs DROP CONSTRAINT wave_runs_segment_check;
ALTER TABLE wave_runs ADD CONSTRAINT wave_runs_segment_check
    CHECK (segment IN ('responders', 'non_responders', 'view', 'query', 'list'));
ALTER TABLE wave_runs ALTER COLUMN source_mailing DROP NOT NULL;
ALTER TABLE wave_runs
    ADD COLUMN consent_policy text NOT NULL DEFAULT 'opt_in_required'
        CHECK (consent_policy IN ('opt_in_required', 'not_opted_out')),
    ADD COLUMN excluded jsonb NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE wave_recipients DROP CONSTRAINT wave_recipients_segment_check;
ALTER TABLE wave_recipients ADD CONSTRAINT wave_recipients_segment_check
    CHECK (segment IN ('responders', 'non_responders', 'view', 'query', 'list'));
ALTER TABLE wave_recipients ALTER COLUMN source_mailing DROP NOT NULL;
ALTER TABLE wave_recipients DROP CONSTRAINT wave_recipients_status_check;
ALTER TABLE wave_recipients ADD CONSTRAINT wave_recipients_status_check
    CHECK (status IN ('pending', 'holdout', 'sending', 'sent', 'dropped', 'skipped_opted_out',
                      'skipped_no_consent', 'failed'));

-- The consent record the recipient's plan, then its send, relied on (the deciding record at that moment):
-- record_id for a loaded record, event_id for a keyword event; all NULL under not_opted_out when no record exists.
ALTER TABLE wave_recipients
    ADD COLUMN planned_at          timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN consent_status      text,
    ADD COLUMN consent_source      text,
    ADD COLUMN consent_ref         text,
    ADD COLUMN consent_recorded_at timestamptz,
    ADD COLUMN consent_record_id   bigint,
    ADD COLUMN consent_event_id    text;

-- The frequency cap counts a phone's messages over the last days across every mailing and wave.
CREATE INDEX wave_recipients_phone ON wave_recipients (phone_e164);
CREATE INDEX sms_sent_phone_time ON sms_sent (phone_e164, sent_at);
