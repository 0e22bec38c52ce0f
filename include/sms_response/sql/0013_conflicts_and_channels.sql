-- Conflicting re-deliveries and other channels (issue 16).
-- An event id delivered again with different content is a *conflict*: the first version stays in the event table
-- (earliest window wins, first occurrence in a window), every other version is kept here beside it, with the
-- fields that differ. It counts as a duplicate in the reconciliation and is reported as a conflict.
CREATE TABLE event_conflicts (
    event_id     text NOT NULL,
    event_code   text NOT NULL,
    load_id      text NOT NULL,          -- the load unit whose delivery was not kept
    kept_load_id text NOT NULL,          -- the load unit whose version is in the event table
    kept         jsonb NOT NULL,         -- the kept version (load_id and is_late left out)
    delivered    jsonb NOT NULL,         -- the version not kept
    changed      text[] NOT NULL,        -- the fields that differ
    detected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_conflicts_load_id ON event_conflicts (load_id);
CREATE INDEX event_conflicts_event_id ON event_conflicts (event_id);
COMMENT ON TABLE event_conflicts IS 'the same event id re-delivered with different content: both versions';

-- Events of another channel (email, push) in a platform's download are skipped, counted by channel:
-- downloaded = imported + duplicates + rejected + skipped.
ALTER TABLE load_log
    ADD COLUMN skipped integer NOT NULL DEFAULT 0,
    ADD COLUMN skipped_by_channel jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN conflicts integer NOT NULL DEFAULT 0;
