-- Why a wave stopped. Parameters: mailing.
SELECT reason FROM wave_runs WHERE mailing_name = %(mailing)s
