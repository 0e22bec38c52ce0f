-- One recipient's own short link for one link of its message. Parameters: token, mailing, phone,
-- link_index, url.
INSERT INTO short_links (token, mailing_name, phone_e164, link_index, target_url)
VALUES (%(token)s, %(mailing)s, %(phone)s, %(link_index)s, %(url)s)
