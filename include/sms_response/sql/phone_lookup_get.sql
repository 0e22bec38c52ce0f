-- What is already decided for these raw values: by an earlier window (this parser version) or earlier in this window.
SELECT raw, e164, reason FROM phone_lookup WHERE region = %(region)s AND parser = %(parser)s AND raw = ANY(%(raws)s)
UNION ALL
SELECT raw, e164, reason FROM stage_phone_lookup WHERE raw = ANY(%(raws)s)
