-- Lines of one landing part (a chunk of them: the text bound as $text starts at line $first_line), numbered
-- from 0 as Python numbers them.
CREATE OR REPLACE TEMP TABLE lines AS
SELECT u.line, u.n - 1 + $first_line AS lineno
FROM unnest(string_split($text, chr(10))) WITH ORDINALITY AS u(line, n)
