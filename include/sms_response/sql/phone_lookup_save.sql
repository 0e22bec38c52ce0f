-- Save a window's decisions; a value decided by another phonenumbers version is decided anew.
INSERT INTO phone_lookup (region, raw, e164, reason, parser)
SELECT DISTINCT ON (raw) %(region)s, raw, e164, reason, %(parser)s FROM stage_phone_lookup ORDER BY raw
ON CONFLICT (region, raw) DO UPDATE
SET e164 = EXCLUDED.e164, reason = EXCLUDED.reason, parser = EXCLUDED.parser, decided_at = now()
WHERE phone_lookup.parser IS DISTINCT FROM EXCLUDED.parser
