-- Flowchart triggers: what a campaign flowchart asks Airflow to run ("the flowchart calls a trigger").
-- A row arrives from the flowchart (source 'table': an INSERT, e.g. from the trigger CLI or a
-- process box writing to this table) or from a JSON file in the drop folder (source 'file',
-- source_ref = the file name, UNIQUE so a file is ingested once however many ingesters run).
-- The trigger DAG claims pending rows exactly once (FOR UPDATE SKIP LOCKED), starts the runs with
-- deterministic run ids (flowchart__<trigger_id>) and records what it started and how it ended.
--
--   pending --claim--> claimed --runs created--> started --runs finished--> succeeded | failed
--   pending --invalid--> rejected          claimed --no run could be created--> failed

CREATE TABLE flowchart_triggers (
    trigger_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text NOT NULL DEFAULT 'table' CHECK (source IN ('table', 'file')),
    source_ref     text UNIQUE,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    requested_by   text NOT NULL DEFAULT current_user,
    run_tracking   boolean NOT NULL DEFAULT true,
    run_wave       boolean NOT NULL DEFAULT false,
    mailing_names  text[] NOT NULL DEFAULT '{}',
    window_start   timestamptz,
    window_end     timestamptz,
    wave_conf      jsonb,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'claimed', 'started', 'succeeded', 'failed', 'rejected')),
    claimed_by     text,
    claimed_at     timestamptz,
    dag_run_ids    jsonb NOT NULL DEFAULT '{}',
    run_states     jsonb NOT NULL DEFAULT '{}',
    message        text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT flowchart_triggers_window_order CHECK (window_end > window_start),
    CONSTRAINT flowchart_triggers_window_pair CHECK ((window_start IS NULL) = (window_end IS NULL)),
    CONSTRAINT flowchart_triggers_wave_conf_object CHECK (wave_conf IS NULL OR jsonb_typeof(wave_conf) = 'object'),
    -- A rejected row records a request that could not be read (e.g. a broken drop file), so only
    -- the other states must ask for something to run.
    CONSTRAINT flowchart_triggers_something_to_run CHECK (status = 'rejected' OR run_tracking OR run_wave),
    CONSTRAINT flowchart_triggers_wave_needs_conf CHECK (status = 'rejected' OR run_wave = (wave_conf IS NOT NULL)),
    CONSTRAINT flowchart_triggers_claim CHECK (status IN ('pending', 'rejected') OR claimed_by IS NOT NULL)
);

-- Run ids are flowchart__<trigger_id> and Airflow keeps its runs longer than a schema may live (a
-- schema re-created, a test schema, a restored database): ids restarting at 1 would name runs that
-- already exist, and those requests would be skipped as "already started". Starting the identity at
-- the creation time in microseconds keeps ids unique across re-creations (and below 2^53, exact in JSON).
DO $$
BEGIN
    EXECUTE 'ALTER TABLE flowchart_triggers ALTER COLUMN trigger_id RESTART WITH '
        || floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
END
$$;

-- The sensor polls for open rows every few seconds; a partial index keeps that cheap however long
-- the history grows. Claimed rows are included: a stale claim (its claimer died) is reclaimed.
CREATE INDEX flowchart_triggers_open ON flowchart_triggers (trigger_id) WHERE status IN ('pending', 'claimed');
