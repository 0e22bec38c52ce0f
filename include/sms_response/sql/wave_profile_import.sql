-- One phase's contact import of a wave, if it was started. Parameters: mailing, phase.
SELECT mailing_name, phase, import_id, status, recipients, updated, dropped_unknown, reason
FROM wave_profile_imports WHERE mailing_name = %(mailing)s AND phase = %(phase)s
