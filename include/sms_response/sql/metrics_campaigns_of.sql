-- The campaigns of some mailings, from the mailings register and from their metric rows.
SELECT campaign_code FROM mailings WHERE mailing_name = ANY (%(mailings)s) AND campaign_code IS NOT NULL
UNION
SELECT campaign_code FROM metric_mailings WHERE mailing_name = ANY (%(mailings)s) AND campaign_code IS NOT NULL
