INSERT INTO load_log AS l (
    load_id, window_start, window_end, filters, status, run_id, downloaded, imported, imported_sent,
    imported_interactions, duplicates, duplicates_in_window, rejected, late, manifest_sha256,
    attempts, started_at, finished_at, duration_ms, message, mailings, skipped, skipped_by_channel, conflicts
) VALUES (
    %(load_id)s, %(window_start)s, %(window_end)s, %(filters)s, %(status)s, %(run_id)s, %(downloaded)s,
    %(imported)s, %(imported_sent)s, %(imported_interactions)s, %(duplicates)s, %(duplicates_in_window)s,
    %(rejected)s, %(late)s, %(manifest_sha256)s, 1, %(started_at)s, %(finished_at)s, %(duration_ms)s,
    %(message)s, %(mailings)s, %(skipped)s, %(skipped_by_channel)s, %(conflicts)s
)
ON CONFLICT (load_id) DO UPDATE SET
    window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end, filters = EXCLUDED.filters,
    status = EXCLUDED.status, run_id = EXCLUDED.run_id, downloaded = EXCLUDED.downloaded,
    imported = EXCLUDED.imported, imported_sent = EXCLUDED.imported_sent,
    imported_interactions = EXCLUDED.imported_interactions, duplicates = EXCLUDED.duplicates,
    duplicates_in_window = EXCLUDED.duplicates_in_window, rejected = EXCLUDED.rejected,
    late = EXCLUDED.late, manifest_sha256 = EXCLUDED.manifest_sha256, attempts = l.attempts + 1,
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    duration_ms = EXCLUDED.duration_ms, message = EXCLUDED.message, skipped = EXCLUDED.skipped,
    skipped_by_channel = EXCLUDED.skipped_by_channel, conflicts = EXCLUDED.conflicts,
    -- Until the window is published again, every reload's touched mailings accumulate.
    mailings = CASE WHEN l.status = 'published' THEN EXCLUDED.mailings
                    ELSE ARRAY(SELECT DISTINCT m FROM unnest(l.mailings || EXCLUDED.mailings) m ORDER BY m) END
