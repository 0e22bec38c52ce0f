-- The raw phone values a window decided itself (sms_response.phone_lookup); saved to phone_lookup at the end of
-- the window's transaction. Parts may decide the same value twice: saved once.
CREATE TEMP TABLE stage_phone_lookup (raw text NOT NULL, e164 text, reason text) ON COMMIT DROP
