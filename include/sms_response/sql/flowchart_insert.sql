-- A request as a pending row. A drop file's row is keyed by its file name (source_ref UNIQUE), so a
-- file ingested twice (an ingester died between the insert and the move) gives one row: no row back.
INSERT INTO flowchart_triggers
    (source, source_ref, requested_by, run_tracking, run_wave, mailing_names, window_start, window_end, wave_conf)
VALUES (%(source)s, %(source_ref)s, %(requested_by)s, %(run_tracking)s, %(run_wave)s, %(mailing_names)s,
        %(window_start)s, %(window_end)s, %(wave_conf)s)
ON CONFLICT (source_ref) DO NOTHING
RETURNING trigger_id
