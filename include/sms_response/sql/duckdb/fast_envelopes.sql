-- One landing part's envelopes, parsed once (the checks in fast_events.sql read this table). Names, codes and
-- timestamps are read as VARCHAR (fast); a `name` that is not a JSON string (the normaliser refuses it, the VARCHAR
-- read would not) is caught by the pattern on the line: such lines go to the normaliser. Landing lines are
-- json.dumps output: they hold no duplicate keys.
CREATE OR REPLACE TEMP TABLE env AS
SELECT lineno,
       json_transform(line, '{"channel": "JSON", "identifiers": [{"name": "VARCHAR", "value": "JSON"}],
           "events": [{"code": "VARCHAR", "timestamp": "VARCHAR", "attributes": [{"name": "VARCHAR", "value": "JSON"}]}]}') AS e
FROM lines
-- A line that is not an object gives a struct of NULLs (no events: the normaliser takes it).
WHERE json_valid(line) AND NOT regexp_matches(line, '"name"\s*:\s*[^"\s]')
