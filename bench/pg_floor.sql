-- What PostgreSQL alone costs for each part of the import's move, on 150,000 synthetic sms_sent rows (the table as
-- migration 0001/0009 makes it: primary key and three indexes, one monthly partition), beside `\copy` of the same
-- rows: the floor under the import's time whatever parses the lines (docs/performance.md, "The PostgreSQL floor").
--     psql -q postgresql://postgres@127.0.0.1:5432/test -f bench/pg_floor.sql
-- Prints each step's time (\timing); works in schema bench_floor (dropped at the end) and /tmp/bench_floor.csv.
\timing on
DROP SCHEMA IF EXISTS bench_floor CASCADE; CREATE SCHEMA bench_floor; SET search_path = bench_floor;
CREATE TABLE event_index (event_id text PRIMARY KEY, event_code text NOT NULL, event_time timestamptz NOT NULL, load_id text NOT NULL);
CREATE INDEX event_index_load_id ON event_index (load_id);
CREATE TABLE sms_sent (event_id text NOT NULL, mailing_name text NOT NULL, campaign_code text, phone_e164 text NOT NULL, contact_id text, sent_at timestamptz NOT NULL, delivery_status text NOT NULL, status_code integer, message_parts integer, program_id text, program text, carrier text, message_body text, attributes jsonb NOT NULL DEFAULT '{}'::jsonb, is_late boolean NOT NULL DEFAULT false, load_id text NOT NULL, PRIMARY KEY (event_id, sent_at)) PARTITION BY RANGE (sent_at);
CREATE INDEX sms_sent_mailing_phone ON sms_sent (mailing_name, phone_e164);
CREATE INDEX sms_sent_load_id ON sms_sent (load_id);
CREATE INDEX sms_sent_phone_time ON sms_sent (phone_e164, sent_at);
CREATE TABLE sms_sent_p PARTITION OF sms_sent FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE stage AS SELECT md5(g::text) || '-' || g AS event_id, 'SPRING26_Mailing_' || (g % 5) AS mailing_name, 'C1' AS campaign_code,
  '+1555' || lpad((g * 7919 % 10000000)::text, 7, '0') AS phone_e164, 'c' || g AS contact_id,
  timestamptz '2026-11-20 09:00Z' + (g || ' seconds')::interval AS sent_at, 'delivered' AS delivery_status, 200 AS status_code, 1 AS message_parts,
  'p1' AS program_id, 'Prog' AS program, 'carrier' AS carrier, 'Hello there, your offer is waiting at https://x.y/abc' AS message_body,
  '{"k": "v"}'::jsonb AS attributes, false AS is_late, 'L1' AS load_id FROM generate_series(1, 150000) g;
\copy stage TO '/tmp/bench_floor.csv' CSV
\echo insert parent
INSERT INTO sms_sent SELECT * FROM stage;
TRUNCATE sms_sent;
\echo insert partition
INSERT INTO sms_sent_p SELECT * FROM stage;
TRUNCATE sms_sent;
\echo copy parent
\copy sms_sent FROM '/tmp/bench_floor.csv' CSV
TRUNCATE sms_sent;
\echo event_index on conflict
INSERT INTO event_index SELECT event_id, 'sentSMS', sent_at, load_id FROM stage ON CONFLICT DO NOTHING;
TRUNCATE event_index;
\echo event_index plain
INSERT INTO event_index SELECT event_id, 'sentSMS', sent_at, load_id FROM stage;
TRUNCATE event_index;
DROP INDEX event_index_load_id;
\echo event_index no load_id index
INSERT INTO event_index SELECT event_id, 'sentSMS', sent_at, load_id FROM stage ON CONFLICT DO NOTHING;
TRUNCATE event_index;
\echo COPY into an unindexed temporary staging table
CREATE TEMP TABLE st (LIKE stage);
\copy st FROM '/tmp/bench_floor.csv' CSV
\echo row_number over event_id (the move's first-occurrence rank)
CREATE TEMP TABLE r AS SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY sent_at) FROM st;
DROP SCHEMA bench_floor CASCADE;
\! rm -f /tmp/bench_floor.csv
