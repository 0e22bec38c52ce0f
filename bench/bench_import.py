"""Benchmark: download + import of one large window, against a raw COPY of the same rows.

    .venv/bin/python bench/bench_import.py --recipients 50000 [--database-url URL]

Prints records/s for download (HTTP over loopback, simulator), import (normalise + COPY + upsert
+ consent + log) and a bare COPY of the normalised rows into an unindexed table (the anchor), and
the ratio import/COPY. Uses the embedded server unless --database-url / SMS_RT_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from psycopg import sql

from sms_response import migrate
from sms_response.db import connect, drop_schema, resolve_url
from sms_response.download import download_window
from sms_response.events import EventRow, Normaliser
from sms_response.landing import iter_envelopes, read_manifest
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.metrics.refresh import refresh_metrics
from sms_response.phones import PhoneNormaliser
from sms_response.platform import SmsPlatformClient
from sms_response.settings import Settings
from sms_response.window import Window
from sms_simulator import SimulatorConfig, SimulatorServer, build_state


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipients", type=int, default=50_000)
    ap.add_argument("--database-url", default=os.environ.get("SMS_RT_DATABASE_URL"))
    args = ap.parse_args()
    start = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
    cfg = SimulatorConfig(seed=5, recipients=args.recipients, mailings=3, campaign_start=start,
                          duplicate_rate=0.01, malformed_rate=0.005, late_rate=0.03)
    t = time.perf_counter()
    state = build_state(cfg)
    print(f"simulator state: {len(state)} records in {time.perf_counter() - t:.1f}s")
    window = Window(start - timedelta(hours=1), start + timedelta(days=2))
    token = secrets.token_urlsafe(16)
    url = args.database_url or resolve_url(Settings.from_env())
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(url, schema)
    mapping = load_mapping()
    with tempfile.TemporaryDirectory() as tmp, SimulatorServer(state, token=token) as sim:
        root = Path(tmp)
        client = SmsPlatformClient(sim.base_url, token)
        t = time.perf_counter()
        manifest = download_window(client, window, root, page_size=5000)
        dl = time.perf_counter() - t
        n = manifest.records
        print(f"download: {n} records, {manifest.pages} pages, {manifest.bytes / 1e6:.1f} MB gz in {dl:.2f}s "
              f"= {n / dl:,.0f} records/s")
        conn = connect(url, schema)
        try:
            t = time.perf_counter()
            r = import_window(conn, schema, root, window, mapping)
            imp = time.perf_counter() - t
            print(f"import: {r.imported} imported, {r.duplicates} duplicates, {r.rejected} rejected in {imp:.2f}s "
                  f"= {n / imp:,.0f} records/s (reconciles: {r.reconciles})")
            t = time.perf_counter()
            r2 = import_window(conn, schema, root, window, mapping)
            print(f"rerun of the same window: {time.perf_counter() - t:.2f}s, imported {r2.imported}")
            # The window published, then the incremental metrics refresh of the mailings it touched.
            conn.execute("UPDATE load_log SET status = 'published' WHERE load_id = %s", (window.id,))
            conn.commit()
            refreshed = refresh_metrics(conn, r2.mailings)
            print(f"metrics refresh of the window's {len(refreshed.mailings)} mailing(s): {refreshed.seconds:.2f}s "
                  f"= {refreshed.seconds / imp:.2f}x the window's import time")
            # Anchor: the same normalised sent rows, bare COPY into an unindexed table.
            d, m = read_manifest(root, window.id)
            norm = Normaliser(mapping, window, m.window_id, PhoneNormaliser("US"))
            t = time.perf_counter()
            rows = [it.values for p, ln, e in iter_envelopes(d, m) for it in norm.normalise(e, f"{p}:{ln}")
                    if isinstance(it, EventRow) and it.code == "sentSMS"]
            norm_s = time.perf_counter() - t
            cols = mapping.codes["sentSMS"].copy_columns
            conn.execute(sql.SQL("CREATE TABLE anchor (LIKE {} INCLUDING DEFAULTS)").format(sql.Identifier("sms_sent")))
            t = time.perf_counter()
            with conn.cursor() as cur, cur.copy(sql.SQL("COPY anchor ({}) FROM STDIN").format(
                    sql.SQL(", ").join(map(sql.Identifier, cols)))) as cp:
                for row in rows:
                    cp.write_row(row)
            conn.commit()
            cp_s = time.perf_counter() - t
            print(f"anchor: normalise {len(rows)} sent rows {norm_s:.2f}s; bare COPY of them {cp_s:.2f}s "
                  f"= {len(rows) / cp_s:,.0f} rows/s")
            print(f"ratio: import records/s ÷ bare COPY rows/s = {(n / imp) / (len(rows) / cp_s):.2f}")
        finally:
            conn.close()
            drop_schema(url, schema)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
