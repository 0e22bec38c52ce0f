-- The run row of a newly planned wave: its request, its sizes, its credit estimate, its consent policy and how
-- many candidates each exclusion removed. Parameters: mailing, request_key, campaign_code, wave_name, source,
-- segment, params, audience, holdout, parts, credits, consent_policy, excluded.
INSERT INTO wave_runs (mailing_name, request_key, campaign_code, wave_name, source_mailing, segment,
                       params, status, audience_size, holdout_size, message_parts, credits, consent_policy, excluded)
VALUES (%(mailing)s, %(request_key)s, %(campaign_code)s, %(wave_name)s, %(source)s, %(segment)s, %(params)s,
        'planned', %(audience)s, %(holdout)s, %(parts)s, %(credits)s, %(consent_policy)s, %(excluded)s)
