"""Benchmark: the sms_sent suite on one large window, GX on PostgreSQL (SQL pushdown) vs GX on pandas.

    .venv/bin/python bench/bench_validation.py --rows 500000 [--database-url URL]

Rows are generated in the database (generate_series) into a fresh schema, then validated both ways.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from sms_response import migrate
from sms_response.db import connect, drop_schema, resolve_url, sqlalchemy_url
from sms_response.load import ensure_partitions, month_bounds
from sms_response.quality import QualityConfig, _suites, gx_url, validate_window
from sms_response.settings import Settings
from sms_response.window import Window


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--database-url", default=os.environ.get("SMS_RT_DATABASE_URL"))
    args = ap.parse_args()
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    url = args.database_url or resolve_url(Settings.from_env())
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(url, schema)
    t0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
    w = Window(t0, t0 + timedelta(hours=1))
    conn = connect(url, schema)
    try:
        ensure_partitions(conn, "sms_sent", [month_bounds(t0)[0]])
        t = time.perf_counter()
        conn.execute(
            "INSERT INTO sms_sent (event_id, mailing_name, phone_e164, sent_at, delivery_status, status_code, load_id) "
            "SELECT 'e' || g, 'SPRING26_Wave1_20261120090000', '+1201' || lpad((g %% 9999999)::text, 7, '0'), "
            "%s + (g %% 3600) * interval '1 second', 'delivered', 0, %s FROM generate_series(1, %s) g",
            (t0, w.id, args.rows),
        )
        conn.execute("INSERT INTO load_log (load_id, window_start, window_end, status, downloaded, rejected) "
                     "VALUES (%s, %s, %s, 'imported', %s, 0)", (w.id, w.start, w.end, args.rows))
        conn.commit()
        print(f"generated {args.rows} rows in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        report = validate_window(url, schema, w, QualityConfig())
        sql_s = time.perf_counter() - t
        print(f"GX on PostgreSQL (all 3 suites, 22 expectations): {sql_s:.2f}s, success={report.success}")
        t = time.perf_counter()
        validate_window(url, schema, w, QualityConfig(), suites=["sms_sent"])
        sql_sent_s = time.perf_counter() - t
        print(f"GX on PostgreSQL (sms_sent suite only, 10 expectations): {sql_sent_s:.2f}s")

        import great_expectations as gx
        import pandas as pd
        import sqlalchemy as sa

        t = time.perf_counter()
        engine = sa.create_engine(sqlalchemy_url(gx_url(url, schema).replace("\\$", "$")))
        df = pd.read_sql(sa.text("SELECT event_id, mailing_name, phone_e164, sent_at, delivery_status, status_code "
                                 "FROM sms_sent WHERE load_id = :l"), engine, params={"l": w.id})
        read_s = time.perf_counter() - t
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = {"globally": False}
        batch_def = ctx.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b")
        _, expectations, _ = _suites(w, QualityConfig())["sms_sent"]
        suite = ctx.suites.add(gx.ExpectationSuite(name="sent"))
        for e in expectations:
            suite.add_expectation(e)
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch_def, suite=suite))
        t = time.perf_counter()
        res = vd.run(batch_parameters={"dataframe": df})
        pd_s = time.perf_counter() - t
        print(f"GX on pandas (sms_sent suite only, 10 expectations): read {read_s:.2f}s + validate {pd_s:.2f}s "
              f"= {read_s + pd_s:.2f}s, success={res.success}")
        print(f"ratio pandas (read + validate) / PostgreSQL, same suite: {(read_s + pd_s) / sql_sent_s:.2f}")
    finally:
        conn.close()
        drop_schema(url, schema)


if __name__ == "__main__":
    main()
