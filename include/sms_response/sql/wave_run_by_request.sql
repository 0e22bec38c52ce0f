-- The wave a request (DAG id + logical date or run id) already planned, if any. Parameters: request_key.
SELECT mailing_name, status, params, audience_size, holdout_size, excluded
FROM wave_runs WHERE request_key = %(request_key)s
