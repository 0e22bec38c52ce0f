-- The candidates of a view, query or list source: its phones (already synced into contacts). Parameters: phones.
INSERT INTO wave_candidates (phone_e164) SELECT unnest(%(phones)s::text[]) ON CONFLICT DO NOTHING
