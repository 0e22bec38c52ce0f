-- One landing part's envelopes, parsed once (the checks in fast_events.sql read this table). Names, codes and
-- timestamps are read as VARCHAR (fast); a `name` that is not a JSON string (the normaliser refuses it, the VARCHAR
-- read would not) is caught by the pattern on the line: such lines go to the normaliser. So are lines with what
-- DuckDB's JSON reader allows and Python's refuses or reads otherwise (a trailing comma; nan, inf, Infinity, NaN and
-- exponents past a double). A key given twice in one object (Python keeps the last, DuckDB another) is caught by
-- counting each key the checks read (a quote inside a JSON string is escaped, so `"code":` only matches keys):
-- fast_events.sql requires one per object that should have it. Lines the downloader wrote ($compact: the manifest's
-- `compact_json`, json.dumps of a decoded value) cannot repeat a key: the counts are skipped (NULL), a third of the
-- fast path's time.
CREATE OR REPLACE TEMP TABLE env AS
SELECT lineno,
       json_transform(line, '{"channel": "JSON", "identifiers": [{"name": "VARCHAR", "value": "JSON"}],
           "events": [{"code": "VARCHAR", "timestamp": "VARCHAR", "attributes": [{"name": "VARCHAR", "value": "JSON"}]}]}') AS e,
       CASE WHEN NOT $compact THEN len(regexp_extract_all(line, '"(channel|identifiers|events)"\s*:')) END AS k_envelope,
       CASE WHEN NOT $compact THEN len(regexp_extract_all(line, '"(code|timestamp|attributes)"\s*:')) END AS k_event,
       CASE WHEN NOT $compact THEN len(regexp_extract_all(line, '"name"\s*:')) END AS k_name,
       CASE WHEN NOT $compact THEN len(regexp_extract_all(line, '"value"\s*:')) END AS k_value
FROM lines
-- A line that is not an object gives a struct of NULLs (no events: the normaliser takes it).
WHERE json_valid(line)
  -- deep nesting: the normaliser's parser refuses it (and jsonb would): left to it
  AND CASE WHEN length(line) <= 1000 THEN true  -- fewer characters than that many brackets: not counted
           ELSE length(line) - length(replace(replace(line, '[', ''), '{', '')) <= 1000 END
  AND NOT regexp_matches(line, '"name"\s*:\s*[^"\s]|,\s*[\]}]|(?i:\bnan\b|\binf(inity)?\b)|[:,\[]\s*-?[0-9.]+[eE][+-]?[0-9]{3}')
