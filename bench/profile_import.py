"""Profile one import (``sms_response.load.import_window``) with pyinstrument: where the importer's time goes.

    .venv/bin/python bench/profile_import.py [--events 100000] [--steady] [--database-url URL]
    .venv/bin/python bench/profile_import.py --landing DIR --start ISO --end ISO [--database-url URL]

Without ``--landing``: the benchmark's campaign (``bench/windows.py``) is simulated for ``--events`` records per
window and its cold window downloaded into a temporary folder; with ``--steady`` the steady window too, and the
cold one is imported first (not profiled) so that the profiled import is the steady state (every phone number
seen before). With ``--landing``: a window already downloaded there (``<DIR>/<window id>/manifest.json``) is
imported. Either way into a fresh schema, dropped afterwards; the database is ``--database-url``, else
``SMS_RT_DATABASE_URL``, else the embedded server.

Only the import is profiled (wall clock, 1 ms samples, the thread that calls ``import_window``): time waiting on
PostgreSQL shows as psycopg's ``wait``, work handed to a worker thread as ``threading`` (``Future.result``), and
native code (DuckDB, libpq) as the Python call into it; py-spy (``--threads --native``, not installed) sees
further. Another session importing into the same database holds the load lock: its wait shows in psycopg. Prints
the top functions and packages by own time and the call tree (frames above 1 % of the time), and writes
``bench/results/profile-<timestamp>.html`` (open it in a browser) and ``.txt``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from windows import config, recipients_for, records_per_recipient, window_cold, window_steady

from sms_response import migrate
from sms_response.db import connect, drop_schema, resolve_url
from sms_response.download import download_window
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.platform import SmsPlatformClient
from sms_response.settings import Settings
from sms_response.window import Window
from sms_simulator import SimulatorServer, build_state

RESULTS = Path(__file__).resolve().parent / "results"
TOP = 25


def simulate(events: int, landing: Path, steady: bool) -> list[Window]:
    """Download the benchmark's cold window (and the steady one) of a campaign of about ``events`` records."""
    windows = [window_cold(), window_steady()] if steady else [window_cold()]
    recipients = recipients_for(events, records_per_recipient())
    print(f"simulating {recipients:,} recipients", file=sys.stderr)
    token = secrets.token_urlsafe(16)
    with SimulatorServer(build_state(config(recipients)), token=token) as sim:
        client = SmsPlatformClient(sim.base_url, token)
        try:
            for w in windows:
                m = download_window(client, w, landing, page_size=5000)
                print(f"downloaded window {w.id}: {m.records:,} records", file=sys.stderr)
        finally:
            client.close()
    return windows


def top_costs(profiler: Profiler) -> str:
    """The ``TOP`` functions with the most own time, and own time summed by package (``phonenumbers``,
    ``psycopg``: mostly waiting on PostgreSQL, ``sms_response/events.py``, ...; a built-in counts for its caller's
    package), from the unprocessed call tree."""
    session = profiler.last_session
    root = session.root_frame() if session else None
    if root is None:
        return "(no samples)"
    total = root.time or 1.0
    by_function: dict[str, float] = defaultdict(float)
    by_package: dict[str, float] = defaultdict(float)
    stack: list[tuple[Any, str]] = [(root, "?")]
    while stack:
        frame, caller_package = stack.pop()
        if frame.is_synthetic:
            continue
        path = frame.file_path or ""
        package = caller_package if path.startswith("<") else _package(path)
        stack.extend((child, package) for child in frame.children)
        own = frame.total_self_time
        by_function[f"{frame.function}  {frame.file_path_short or path}:{frame.line_no}"] += own
        by_package[package] += own

    def top(costs: dict[str, float], n: int) -> list[str]:
        return [f"{t / total:7.1%}   {name}" for name, t in sorted(costs.items(), key=lambda kv: -kv[1])[:n]]

    return "\n".join(["own time  function", *top(by_function, TOP), "", "own time  package or module",
                      *top(by_package, 12)])


def _package(path: str) -> str:
    """``phonenumbers`` for site-packages, ``sms_response/events.py`` for this project, ``json`` for the stdlib."""
    parts = Path(path).parts
    for marker in ("site-packages", "include", "plugins"):
        if marker in parts:
            rest = parts[parts.index(marker) + 1:]
            if not rest:
                break
            return rest[0] if marker == "site-packages" else "/".join(rest)
    stdlib = [i for i, p in enumerate(parts) if p.startswith("python3")]
    if stdlib and len(parts) > stdlib[-1] + 1:
        return parts[stdlib[-1] + 1].removesuffix(".py")
    return Path(path).name or "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="records per simulated window (default 100000)")
    ap.add_argument("--steady", action="store_true", help="profile the steady window, after an unprofiled cold one")
    ap.add_argument("--landing", type=Path, help="a landing folder holding an already downloaded window")
    ap.add_argument("--start", help="the landed window's start (ISO 8601 with offset), with --landing")
    ap.add_argument("--end", help="the landed window's end, with --landing")
    ap.add_argument("--database-url", default=os.environ.get("SMS_RT_DATABASE_URL"))
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.landing and not (args.start and args.end):
        ap.error("--landing needs --start and --end")
    url = args.database_url or resolve_url(Settings.from_env())
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    mapping = load_mapping()
    with tempfile.TemporaryDirectory(prefix="sms-profile-") as tmp:
        if args.landing:
            landing, windows = args.landing, [Window.from_iso(args.start, args.end)]
        else:
            landing, windows = Path(tmp), simulate(args.events, Path(tmp), args.steady)
        migrate.upgrade(url, schema)
        conn = connect(url, schema)
        try:
            for w in windows[:-1]:
                r = import_window(conn, schema, landing, w, mapping)
                print(f"imported window {w.id} first (not profiled): {r.downloaded:,} records", file=sys.stderr)
            window = windows[-1]
            profiler = Profiler(interval=0.001, async_mode="disabled")
            t = time.perf_counter()
            profiler.start()
            result = import_window(conn, schema, landing, window, mapping)
            profiler.stop()
            seconds = time.perf_counter() - t
        finally:
            conn.close()
            drop_schema(url, schema)
    tree = profiler.output_text(unicode=True, color=False, processor_options={"filter_threshold": 0.01})
    head = (f"import of window {window.id}: {result.downloaded:,} records (imported {result.imported:,}, "
            f"duplicates {result.duplicates:,}, rejected {result.rejected:,}) in {seconds:.2f} s = "
            f"{result.downloaded / seconds:,.0f} records/s, profiled")
    top = top_costs(profiler)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    html, text = args.results_dir / f"profile-{stamp}.html", args.results_dir / f"profile-{stamp}.txt"
    html.write_text(profiler.output_html())
    text.write_text(f"{head}\n\n{top}\n\n## Call tree\n\n{tree}\n")
    print(f"{head}\n\n{top}\n\nCall tree (frames above 1 %):\n{tree}")
    print(f"profile: {html} and {text}", file=sys.stderr)


if __name__ == "__main__":
    main()
