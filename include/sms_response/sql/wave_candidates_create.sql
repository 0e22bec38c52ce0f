-- The candidate phones of the audience being planned, before consent, exclusions and the frequency cap.
CREATE TEMP TABLE wave_candidates (phone_e164 text PRIMARY KEY) ON COMMIT DROP
