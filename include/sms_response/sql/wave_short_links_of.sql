-- The short links of the given recipients, in link order. Parameters: mailing, phones.
SELECT phone_e164, token, target_url FROM short_links WHERE mailing_name = %(mailing)s AND phone_e164 = ANY(%(phones)s)
ORDER BY phone_e164, link_index
