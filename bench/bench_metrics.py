"""Benchmark: campaign metrics refresh at 1M sends / 200k interactions, full and incremental.

    .venv/bin/python bench/bench_metrics.py [--sends 1000000] [--interactions 200000] [--mailings 10]
                                            [--database-url URL]

Rows are generated in the database (generate_series) into a fresh schema as one published window: sends
spread over ``--mailings`` mailings of one campaign (recipients overlap between mailings), interactions
of every type (clicks 60 %, conversions 15 %, replies 10 %, actions 10 %, opt-outs 5 %), short links for
the clicks. Then: a full rebuild, a second full rebuild (the steady state), and the incremental refresh
of one mailing (what a window touching one blast costs). Figures printed; nothing asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection, sql

from sms_response import migrate
from sms_response.db import connect, drop_schema, resolve_url
from sms_response.load import ensure_partitions, month_bounds
from sms_response.metrics.refresh import refresh_metrics
from sms_response.settings import Settings

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)  # the generated window starts here
GENERATE_SENT = """
INSERT INTO sms_sent (event_id, mailing_name, campaign_code, phone_e164, sent_at, delivery_status, status_code,
                      message_parts, carrier, message_body, load_id)
SELECT 's' || g, 'BENCH_Blast' || (g %% %(m)s) || '_20261120090000', 'BENCH',
       '+1201' || lpad(((g::bigint * 7919) %% %(phones)s)::text, 7, '0'),
       %(t0)s + (g %% 86400) * interval '1 second',
       CASE WHEN g %% 50 = 0 THEN 'failed' WHEN g %% 33 = 0 THEN 'undelivered' ELSE 'delivered' END,
       CASE WHEN g %% 50 = 0 THEN 30005 WHEN g %% 33 = 0 THEN 30003 ELSE 0 END,
       1 + (g %% 3 = 0)::int, CASE g %% 3 WHEN 0 THEN 'Verizon' WHEN 1 THEN 'AT&T' ELSE 'T-Mobile' END,
       CASE WHEN g %% 10 = 0 THEN 'Sale ☀ today' ELSE 'Sale today https://s.example/x' END, 'bench'
FROM generate_series(1, %(n)s) g
"""
GENERATE_INTERACTIONS = """
INSERT INTO sms_interactions (event_id, mailing_name, phone_e164, interacted_at, interaction_type, url, link_token,
                              action_name, reply_text, keyword, conversion_value, load_id)
SELECT 'i' || g, 'BENCH_Blast' || (g %% %(m)s) || '_20261120090000',
       '+1201' || lpad(((g::bigint * 7919) %% %(phones)s)::text, 7, '0'),
       %(t0)s + (g %% 86400) * interval '1 second' + (g %% 500) * interval '1 minute',
       t.kind, CASE WHEN t.kind = 'click' THEN 'https://shop.example/' || (g %% 2) END,
       CASE WHEN t.kind = 'click' THEN 'tk' || g END,
       CASE WHEN t.kind = 'action' THEN (ARRAY['Yes', 'No', 'Later'])[1 + g %% 3] END,
       CASE WHEN t.kind = 'reply' THEN 'thanks' WHEN t.kind = 'opt_out' THEN 'STOP' END,
       CASE WHEN t.kind = 'opt_out' THEN 'STOP' END,
       CASE WHEN t.kind = 'conversion' THEN 10 + g %% 90 END, 'bench'
FROM generate_series(1, %(n)s) g
CROSS JOIN LATERAL (SELECT CASE WHEN g %% 20 < 12 THEN 'click' WHEN g %% 20 < 15 THEN 'conversion'
                                WHEN g %% 20 < 17 THEN 'reply' WHEN g %% 20 < 19 THEN 'action'
                                ELSE 'opt_out' END AS kind) t
"""
GENERATE_LINKS = """
INSERT INTO short_links (token, mailing_name, phone_e164, link_index, target_url)
SELECT link_token, mailing_name, phone_e164, 0, url FROM sms_interactions WHERE interaction_type = 'click'
"""


def generate(conn: Connection[Any], *, sends: int, interactions: int, mailings: int, t0: datetime = T0) -> None:
    """Fill a migrated schema with one published window of generated sends, interactions and short links."""
    months = [month_bounds(t0)[0], month_bounds(t0 + timedelta(days=40))[0]]
    ensure_partitions(conn, "sms_sent", months)
    ensure_partitions(conn, "sms_interactions", months)
    params = {"t0": t0, "m": mailings, "phones": max(sends // 3, 1)}
    conn.execute(GENERATE_SENT, {**params, "n": sends})
    conn.execute(GENERATE_INTERACTIONS, {**params, "n": interactions})
    conn.execute(GENERATE_LINKS)
    conn.execute("INSERT INTO mailings (mailing_name, campaign_code) SELECT DISTINCT mailing_name, 'BENCH' "
                 "FROM sms_sent")
    conn.execute("INSERT INTO load_log (load_id, window_start, window_end, status) "
                 "VALUES ('bench', %s, %s, 'published')", (t0, t0 + timedelta(days=2)))
    for table in ("sms_sent", "sms_interactions", "short_links", "mailings", "load_log"):
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    conn.commit()


def arguments() -> argparse.ArgumentParser:
    """The generator's size and the database, shared by the benchmarks that use ``generate``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sends", type=int, default=1_000_000)
    ap.add_argument("--interactions", type=int, default=200_000)
    ap.add_argument("--mailings", type=int, default=10)
    ap.add_argument("--database-url", default=os.environ.get("SMS_RT_DATABASE_URL"))
    return ap


def main() -> None:
    args = arguments().parse_args()
    url = args.database_url or resolve_url(Settings.from_env())
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(url, schema)
    conn = connect(url, schema)
    try:
        t = time.perf_counter()
        generate(conn, sends=args.sends, interactions=args.interactions, mailings=args.mailings)
        print(f"generated {args.sends:,} sends and {args.interactions:,} interactions over {args.mailings} mailings "
              f"in {time.perf_counter() - t:.1f}s")
        full = refresh_metrics(conn)
        print(f"full rebuild (cold): {full.seconds:.2f}s for {len(full.mailings)} mailings "
              f"= {args.sends / full.seconds:,.0f} sends/s")
        again = refresh_metrics(conn)
        print(f"full rebuild (again): {again.seconds:.2f}s")
        one = refresh_metrics(conn, [full.mailings[0]])
        print(f"incremental refresh of one mailing ({args.sends // args.mailings:,} sends): {one.seconds:.2f}s")
        t = time.perf_counter()
        rows = conn.execute("SELECT * FROM report_campaigns").fetchall()
        conn.execute("SELECT * FROM report_mailings").fetchall()
        ms = (time.perf_counter() - t) * 1000
        print(f"read report_campaigns + report_mailings: {ms:.1f} ms ({len(rows)} campaign)")
        conn.commit()
    finally:
        conn.close()
        drop_schema(url, schema)
    print(f"peak RSS (client): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
