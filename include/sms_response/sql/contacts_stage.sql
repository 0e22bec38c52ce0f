-- Staging for one contacts load; gone at the end of its transaction.
CREATE TEMP TABLE contacts_stage (LIKE contacts INCLUDING DEFAULTS) ON COMMIT DROP
