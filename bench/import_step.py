"""One import of a downloaded window, alone in its process: prints JSON with its time and peak RSS.

    .venv/bin/python bench/import_step.py --landing DIR --start ISO --end ISO --database-url URL --schema S

The step of ``bench/bench_import_memory.py`` (and of ``make bench``): a process of its own, so its peak RSS is
the importer's, not the simulator's or another step's.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import datetime
from pathlib import Path

from sms_response.db import connect
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.window import Window


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: that survives exec, so a child of a big
    parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--landing", type=Path, required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--schema", required=True)
    args = ap.parse_args()
    window = Window(datetime.fromisoformat(args.start), datetime.fromisoformat(args.end))
    rss_before = peak_rss_mb()
    conn = connect(args.database_url, args.schema)
    try:
        t = time.perf_counter()
        r = import_window(conn, args.schema, args.landing, window, load_mapping())
        seconds = time.perf_counter() - t
    finally:
        conn.close()
    print(json.dumps({
        "records": r.downloaded, "imported": r.imported, "duplicates": r.duplicates, "rejected": r.rejected,
        "reconciles": r.reconciles, "seconds": round(seconds, 3),
        "records_per_s": round(r.downloaded / seconds) if seconds else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_at_start_mb": round(rss_before, 1),
    }))


if __name__ == "__main__":
    main()
