-- Window imports are serialised per schema (a transaction-level advisory lock): they share event_index,
-- phone_lookup and sms_consent. Schemas (tenants, test runs) import independently.
SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('sms_rt.window_load'))
