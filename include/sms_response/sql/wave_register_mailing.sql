-- Register a wave's mailing name (source 'wave', not seen in events yet). Parameters: mailing, campaign_code.
INSERT INTO mailings (mailing_name, campaign_code, source) VALUES (%(mailing)s, %(campaign_code)s, 'wave')
