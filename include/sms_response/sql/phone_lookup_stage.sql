-- The raw phone values a window decided itself (sms_response.phone_lookup); saved to phone_lookup under the load lock.
CREATE TEMP TABLE stage_phone_lookup (raw text PRIMARY KEY, e164 text, reason text) ON COMMIT DROP
