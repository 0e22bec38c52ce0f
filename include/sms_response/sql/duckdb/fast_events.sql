-- Each event of one landing part with the fields the per-code selects need, from the parsed envelopes
-- (fast_envelopes.sql). `base_ok` holds the envelope- and event-level checks of the fast path; a line failing any
-- check (or of a shape the typed read gives NULL for) goes to the Python normaliser, which gives the exact row or
-- reason.
-- $lo, $hi: the plausible time range of the window; $start: the window's start (earlier is late).
CREATE OR REPLACE TEMP TABLE ev AS
WITH ids AS (
    SELECT lineno, e, k_envelope, k_event, k_name, k_value,
           list_transform(e.identifiers, lambda i: i.name) AS id_names
    FROM env
    WHERE e IS NOT NULL AND len(e.events) > 0
), envs AS (
    SELECT lineno, e.events AS events,
           (e.channel IS NULL OR (json_type(e.channel) = 'VARCHAR' AND e.channel ->> '$' = 'SMS'))
             -- each key read once per object that has it (see fast_envelopes.sql)
             AND ($compact OR (k_envelope = 2 + (e.channel IS NOT NULL)::INTEGER
                               AND k_event = 3 * len(e.events)
                               AND k_name = len(e.identifiers)
                                            + list_sum(list_transform(e.events, lambda ev: len(ev.attributes)))
                               AND k_value = k_name))
             AND list_position(id_names, NULL) IS NULL
             AND len(id_names) = len(list_distinct(id_names))
             AND json_type(e.identifiers[list_position(id_names, 'phoneNumber')].value) = 'VARCHAR'
             AND coalesce(json_type(e.identifiers[list_position(id_names, 'contactId')].value), 'NULL') IN ('NULL', 'VARCHAR')
             AS env_ok,
           e.identifiers[list_position(id_names, 'phoneNumber')].value ->> '$' AS phone_raw,
           e.identifiers[list_position(id_names, 'contactId')].value ->> '$' AS contact_id
    FROM ids
), evs AS (
    SELECT lineno, env_ok, phone_raw, contact_id,
           generate_subscripts(events, 1) - 1 AS evno,
           unnest(events) AS ev
    FROM envs
), typed AS (
    SELECT lineno, evno, env_ok, phone_raw, contact_id,
           ev.code AS code,
           ev.timestamp AS ts_raw,
           ev.attributes IS NOT NULL AS attrs_ok,
           list_transform(ev.attributes, lambda a: nullif(a.name, '')) AS names,
           list_transform(ev.attributes, lambda a: coalesce(a.value, 'null'::JSON)) AS vals
    FROM evs
), timed AS (
    SELECT *,
           CASE WHEN regexp_full_match(ts_raw, '[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])')
                THEN TRY_CAST(ts_raw AS TIMESTAMPTZ) END AS ts
    FROM typed
)
SELECT lineno, evno, code, ts_raw, ts < $start AS is_late, names, vals, phone_raw, env_ok,
       CASE WHEN strpos(contact_id, chr(0)) = 0 THEN contact_id END AS contact_id,
       env_ok AND attrs_ok AND coalesce(strpos(contact_id, chr(0)) = 0, true)
         AND ts IS NOT NULL AND ts >= $lo AND ts <= $hi
         AND list_position(names, NULL) IS NULL AND len(names) = len(list_distinct(names))
         AND NOT coalesce(list_bool_or(list_transform(names, lambda n: strpos(n, chr(0)) > 0)), false) AS base_ok
FROM timed
