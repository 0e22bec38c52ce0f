"""Peak memory and speed of the import as the window grows: each size downloaded from the simulator, then
imported in a process of its own (``bench/import_step.py``), into a fresh schema.

    .venv/bin/python bench/bench_import_memory.py --recipients 20000 100000 [--database-url URL]

Prints one line per size and a markdown table: records, seconds, records/s, peak RSS of the import process,
and the ratio of the largest window's peak RSS to the smallest's (the issue's target: ≤ 1.3).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sms_response import migrate
from sms_response.db import drop_schema, resolve_url
from sms_response.download import download_window
from sms_response.platform import SmsPlatformClient
from sms_response.settings import Settings
from sms_response.window import Window
from sms_simulator import SimulatorConfig, SimulatorServer, build_state

HERE = Path(__file__).resolve().parent


def landing_for(recipients: int, root: Path) -> tuple[Window, int]:
    start = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
    cfg = SimulatorConfig(seed=5, recipients=recipients, mailings=3, campaign_start=start,
                          duplicate_rate=0.01, malformed_rate=0.005, late_rate=0.03)
    window = Window(start - timedelta(hours=1), start + timedelta(days=2))
    token = secrets.token_urlsafe(16)
    with SimulatorServer(build_state(cfg), token=token) as sim:
        client = SmsPlatformClient(sim.base_url, token)
        try:
            manifest = download_window(client, window, root, page_size=5000)
        finally:
            client.close()
    return window, manifest.records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipients", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--database-url", default=os.environ.get("SMS_RT_DATABASE_URL"))
    args = ap.parse_args()
    url = args.database_url or resolve_url(Settings.from_env())
    results = []
    for n in args.recipients:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        migrate.upgrade(url, schema)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                window, records = landing_for(n, Path(tmp))
                out = subprocess.run(
                    [sys.executable, str(HERE / "import_step.py"), "--landing", tmp, "--start",
                     window.start.isoformat(), "--end", window.end.isoformat(), "--database-url", url,
                     "--schema", schema], check=True, capture_output=True, text=True)
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                figures["recipients"] = n
                results.append(figures)
                print(json.dumps(figures), flush=True)
        finally:
            drop_schema(url, schema)
    print("\n| recipients | records | import s | records/s | peak RSS MB |\n|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['recipients']:,} | {r['records']:,} | {r['seconds']:.2f} | {r['records_per_s']:,} | "
              f"{r['peak_rss_mb']:.0f} |")
    if len(results) > 1:
        ratio = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
        print(f"\npeak RSS ratio, largest / smallest window: {ratio:.2f}")


if __name__ == "__main__":
    main()
