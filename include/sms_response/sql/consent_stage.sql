-- Staging for one consent load; gone at the end of its transaction.
CREATE TEMP TABLE consent_stage (
    phone_e164 text NOT NULL, status text NOT NULL, source text NOT NULL, source_ref text NOT NULL,
    recorded_at timestamptz NOT NULL
) ON COMMIT DROP
