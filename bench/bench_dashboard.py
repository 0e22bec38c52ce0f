"""Benchmark: the campaign dashboard's pages at 1M sends / 200k interactions, through Airflow's API server app.

    .venv/bin/python bench/bench_dashboard.py [--sends 1000000] [--interactions 200000] [--mailings 10]
                                              [--repeat 20] [--database-url URL]

Fills a fresh schema with ``bench_metrics``' generator (one published window) and refreshes the metrics;
then builds the Airflow API server app in-process with the plugin loaded (``create_app``; SimpleAuthManager,
SQLite metadata in a temporary ``AIRFLOW_HOME``), signs a viewer in (``POST /auth/token``) and requests each
page ``--repeat`` times over HTTP (TestClient): authentication, DAG access check, the read-only connection,
the metric reads, the charts and the template, as a browser gets them. Prints median and p95 per page, and
the metric reads alone. Target: every page under 300 ms. Nothing asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOME = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
# Airflow reads its configuration at import: set it before anything imports airflow.
os.environ.update({
    "AIRFLOW_HOME": str(HOME), "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(HOME / "passwords.json"),
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "GX_ANALYTICS_ENABLED": "false",
})
sys.path.insert(0, str(Path(__file__).parent))

from bench_metrics import arguments, generate  # noqa: E402

from sms_response import migrate  # noqa: E402
from sms_response.db import connect, drop_schema, resolve_url  # noqa: E402
from sms_response.metrics import read  # noqa: E402
from sms_response.metrics.refresh import refresh_metrics  # noqa: E402
from sms_response.settings import Settings  # noqa: E402


def timed(fn: object, repeat: int) -> tuple[float, float]:
    """Median and p95 (ms) of ``repeat`` calls after one warm-up call."""
    fn()  # type: ignore[operator]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def main() -> None:
    ap = arguments()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    url = args.database_url or resolve_url(Settings.from_env())
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(url, schema)
    try:
        with connect(url, schema) as conn:
            t = time.perf_counter()
            generate(conn, sends=args.sends, interactions=args.interactions, mailings=args.mailings)
            refresh_metrics(conn)
            blasts = read.campaign(conn, "BENCH")["mailings"].set_index("mailing_name")
            # The generator gives each interaction type to some blasts only: time each page on its fullest.
            mailing = str(blasts["clicks"].idxmax())
            replied = str(blasts["replies"].idxmax())
            tapped = max(blasts.index, key=lambda m: len(read.actions(conn, str(m))))
            replies = len(read.inbox(conn, replied))
        print(f"generated and refreshed {args.sends:,} sends / {args.interactions:,} interactions over "
              f"{args.mailings} mailings in {time.perf_counter() - t:.1f}s ({replies:,} replies to {replied})")
        os.environ.update({"SMS_RT_DATABASE_URL": url, "SMS_RT_SCHEMA": schema})
        (HOME / "passwords.json").write_text(json.dumps({"viewer": "bench"}))
        subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                       capture_output=True)

        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        client = TestClient(create_app("core"))
        token = client.post("/auth/token", json={"username": "viewer", "password": "bench"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        pages = {
            "campaigns": "/sms-rt/", "campaign": "/sms-rt/campaigns/BENCH", "mailing": f"/sms-rt/mailings/{mailing}",
            "links": f"/sms-rt/mailings/{mailing}/links", "actions": f"/sms-rt/mailings/{tapped}/actions",
            "failures": f"/sms-rt/mailings/{mailing}/failures", "inbox (500 rows)": f"/sms-rt/mailings/{replied}/inbox",
            "pipeline health": "/sms-rt/health",
        }
        print(f"\npages over HTTP with a viewer's token, {args.repeat} requests each\n"
              f"  {'page':<18} {'size':>9}  {'median':>10} {'p95':>10}")
        for name, path in pages.items():
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)
            median, p95 = timed(lambda path=path: client.get(path, headers=headers), args.repeat)
            print(f"  {name:<18} {len(answer.content) / 1024:>6.0f} KB  {median:>7.1f} ms {p95:>7.1f} ms")
        with connect(url, schema) as conn:
            median, p95 = timed(lambda: (read.campaign(conn, "BENCH"), read.campaigns(conn)), args.repeat)
        print(f"  {'campaign SQL only':<18} {'':>9}  {median:>7.1f} ms {p95:>7.1f} ms  (its reads, one connection)")
    finally:
        drop_schema(url, schema)
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
