-- The months (UTC) a staging table's events fall in: the monthly partitions the move needs.
-- {stage}, {time_column} are identifiers composed with psycopg.sql.
SELECT DISTINCT date_trunc('month', {time_column}, 'UTC') FROM {stage}
