-- Recount load units that gave events away to an earlier window: fewer imported, more duplicates
-- (downloaded = imported + duplicates + rejected + skipped still holds), and their conflicts (an event taken over
-- with other content is one). Parameter: load_ids.
UPDATE load_log l
SET imported_sent = c.sent,
    imported_interactions = c.interactions,
    imported = c.sent + c.interactions,
    duplicates = l.downloaded - c.sent - c.interactions - l.rejected - l.skipped,
    late = c.late,
    conflicts = c.conflicts
FROM (
    SELECT u.load_id,
           (SELECT count(*) FROM sms_sent s WHERE s.load_id = u.load_id) AS sent,
           (SELECT count(*) FROM sms_interactions i WHERE i.load_id = u.load_id) AS interactions,
           (SELECT count(*) FROM sms_sent s WHERE s.load_id = u.load_id AND s.is_late)
           + (SELECT count(*) FROM sms_interactions i WHERE i.load_id = u.load_id AND i.is_late) AS late,
           (SELECT count(*) FROM event_conflicts f WHERE f.load_id = u.load_id) AS conflicts
    FROM unnest(%(load_ids)s::text[]) AS u(load_id)
) c
WHERE l.load_id = c.load_id
