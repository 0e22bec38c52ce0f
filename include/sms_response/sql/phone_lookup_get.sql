-- What earlier windows decided for these raw values (with this parser version).
SELECT raw, e164, reason FROM phone_lookup WHERE region = %(region)s AND parser = %(parser)s AND raw = ANY(%(raws)s)
