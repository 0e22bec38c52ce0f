-- Serialises the start and the finish of one phase's import of a wave (held until the transaction ends), so
-- two attempts never both start an import. Parameters: mailing, phase.
SELECT pg_advisory_xact_lock(hashtextextended('wave_profile_imports/' || %(mailing)s || '/' || %(phase)s, 0))
