-- The deciding consent record of each phone (all phones with evidence when phones is NULL) at as_of.
SELECT phone_e164, status, source, source_ref, recorded_at, record_id, event_id
FROM consent_as_of(%(as_of)s, %(phones)s::text[])
