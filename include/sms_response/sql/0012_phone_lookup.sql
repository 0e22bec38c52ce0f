-- A persistent lookup of raw phone value → E.164 (or why it is not a number), so `phonenumbers` parses each
-- distinct raw value once ever, not once per window: a campaign's recipients recur hour after hour.
-- Keyed by the default region the raw value was read in; `parser` is the phonenumbers version that decided
-- it, so an upgrade of its metadata re-decides a value when it is next seen (the importer ignores other versions).
CREATE TABLE phone_lookup (
    region     text NOT NULL,
    raw        text NOT NULL,
    e164       text,
    reason     text,
    parser     text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, raw),
    CHECK ((e164 IS NULL) <> (reason IS NULL))
);
COMMENT ON TABLE phone_lookup IS
    'raw phone value → E.164 or reason, decided once by phonenumbers version `parser` (sms_response.phone_lookup)';
