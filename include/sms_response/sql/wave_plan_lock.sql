-- Planning waves is serialised per schema (a transaction-level advisory lock), so two waves planned at the same
-- moment see each other's recipients and the frequency cap holds across them.
SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('sms_rt.wave_plan'))
