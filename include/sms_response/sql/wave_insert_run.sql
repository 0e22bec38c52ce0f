-- The run row of a newly planned wave: its request, its sizes and its credit estimate.
-- Parameters: mailing, request_key, campaign_code, wave_name, source, segment, params, audience, holdout,
-- parts, credits.
INSERT INTO wave_runs (mailing_name, request_key, campaign_code, wave_name, source_mailing, segment,
                       params, status, audience_size, holdout_size, message_parts, credits)
VALUES (%(mailing)s, %(request_key)s, %(campaign_code)s, %(wave_name)s, %(source)s, %(segment)s, %(params)s,
        'planned', %(audience)s, %(holdout)s, %(parts)s, %(credits)s)
