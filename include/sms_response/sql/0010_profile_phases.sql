-- Sample first, for profiles too: a wave pushes its recipients' profiles in two contact imports, the sample's
-- before the sample is sent and the rest of the audience's only after the sample gate passed. One row per
-- (wave, phase): the row is the claim that makes the import start once, and it holds the platform's result.
CREATE TABLE wave_profile_imports (
    mailing_name    text NOT NULL REFERENCES wave_runs (mailing_name),
    phase           text NOT NULL CHECK (phase IN ('sample', 'full')),
    import_id       text,
    status          text NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
    recipients      integer NOT NULL,
    updated         integer,
    dropped_unknown integer,
    reason          text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (mailing_name, phase),
    CHECK ((status = 'started') = (finished_at IS NULL))
);

-- Waves planned before this migration pushed every profile in one import: that import stands for both
-- phases, so a wave in flight neither pushes its profiles again nor loses its import's figures.
INSERT INTO wave_profile_imports (mailing_name, phase, import_id, status, recipients, updated, dropped_unknown,
                                  reason, started_at, finished_at)
SELECT r.mailing_name, p.phase, r.import_id, s.status,
       (SELECT count(*) FROM wave_recipients w
        WHERE w.mailing_name = r.mailing_name AND w.phase = p.phase AND NOT w.holdout),
       CASE WHEN s.status = 'completed' THEN
           (SELECT count(*) FILTER (WHERE w.status <> 'dropped') FROM wave_recipients w
            WHERE w.mailing_name = r.mailing_name AND w.phase = p.phase AND NOT w.holdout) END,
       CASE WHEN s.status = 'completed' THEN
           (SELECT count(*) FILTER (WHERE w.status = 'dropped') FROM wave_recipients w
            WHERE w.mailing_name = r.mailing_name AND w.phase = p.phase AND NOT w.holdout) END,
       CASE WHEN s.status = 'failed' THEN r.reason END,
       r.created_at, CASE WHEN s.status <> 'started' THEN r.updated_at END
FROM wave_runs r
CROSS JOIN (VALUES ('sample'), ('full')) AS p (phase)
CROSS JOIN LATERAL (SELECT CASE
    WHEN r.status = 'planned' THEN 'started'
    WHEN r.status = 'failed' AND r.reason LIKE 'contact import failed%' THEN 'failed'
    ELSE 'completed' END AS status) AS s
WHERE r.import_id IS NOT NULL;

-- The import id and the dropped count now live per phase in wave_profile_imports.
ALTER TABLE wave_runs DROP COLUMN import_id, DROP COLUMN dropped_unknown;
