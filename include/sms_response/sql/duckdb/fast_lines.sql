-- One landing part's lines (the part's text is bound as $text), numbered from 0 as Python numbers them.
CREATE OR REPLACE TEMP TABLE lines AS
SELECT u.line, u.n - 1 AS lineno
FROM unnest(string_split($text, chr(10))) WITH ORDINALITY AS u(line, n)
