-- Every phase's contact import of a wave, sample first. Parameters: mailing.
SELECT mailing_name, phase, import_id, status, recipients, updated, dropped_unknown, reason
FROM wave_profile_imports WHERE mailing_name = %(mailing)s ORDER BY phase = 'full', phase
