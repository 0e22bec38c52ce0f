-- Move a wave to a status, keeping the last reason unless a new one is given.
-- The extra placeholder is composed with psycopg.sql: more assignments, column names as identifiers.
-- Parameters: status, reason, mailing, and one per extra column.
UPDATE wave_runs SET status = %(status)s, reason = coalesce(%(reason)s, reason), updated_at = now(){extra}
WHERE mailing_name = %(mailing)s
