-- Per wave: the texted groups (every non-holdout assignee: intention to treat) against the holdout.
SELECT mailing_name,
       sum(assigned) FILTER (WHERE NOT is_holdout), sum(lift_responders) FILTER (WHERE NOT is_holdout),
       sum(lift_converters) FILTER (WHERE NOT is_holdout),
       sum(assigned) FILTER (WHERE is_holdout), sum(lift_responders) FILTER (WHERE is_holdout),
       sum(lift_converters) FILTER (WHERE is_holdout)
FROM metric_variants
WHERE mailing_name = ANY (%(mailings)s)
GROUP BY mailing_name
