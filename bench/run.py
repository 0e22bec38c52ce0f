"""``make bench``: the pipeline's steps and their yardsticks, side by side, on windows from the platform simulator.

    .venv/bin/python bench/run.py [--sizes 100000 500000 2000000] [--database-url URL ...] [--results-dir DIR]
    make bench BENCH_ARGS="--sizes 20000 --database-url postgresql://postgres@127.0.0.1:5432/test"

For each size (records in a window) a campaign is simulated and served over loopback by the simulator in a
process of its own, and its two windows are downloaded (see ``bench/windows.py``: a cold window whose phone
numbers are all new, a steady one whose numbers were all seen). Then, on each database (default: the embedded
server of ``sms_response.db.resolve_url`` and ``postgresql://postgres@127.0.0.1:5432/test``), in a fresh schema,
each step in a process of its own (``bench/steps.py``): import cold, validation, import steady, validation,
segment refresh, metrics refresh, wave audience build; then the yardsticks (``bench/anchors.py``) load the rows
the import put into ``sms_sent`` and ``sms_interactions`` for each window into the same, empty, tables of another
schema: ``psql \\copy``, pandas ``to_sql`` (default and ``method="multi"``), ``PostgresHook.insert_rows``. Last,
each DAG file's parse time in a fresh process.

Progress goes to stderr; the report (markdown) to stdout and ``<results-dir>/<timestamp>.md``, every figure to
``<results-dir>/<timestamp>.json``. Schemas and temporary folders it creates are removed, also on failure.

Run it on an otherwise idle machine and database: imports into the same schema wait for each other (a per-schema
advisory lock), and other work on the 2 cores skews every figure. The full default run (2M records per
window, on two servers) holds the simulated campaign (about 5 GB at 2M, estimated) and each yardstick's rows in
memory, and takes hours on a 2-core machine (``to_sql`` with ``method="multi"`` loads about 3k rows/s;
``--anchors`` leaves yardsticks out); ``--sizes 2000`` is the smoke run of ``tests/integration/test_bench_smoke.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from anchors import export_window, prepare_target
from proc import REPO, URL_ENV, run_step
from psycopg.conninfo import conninfo_to_dict
from report import ANCHORS, all_ratios, markdown, write
from windows import CONSTRUCTION, SimulatorProcess, recipients_for, records_per_recipient, window_cold, window_steady

from sms_response import migrate
from sms_response.db import drop_schema, resolve_url
from sms_response.settings import Settings

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_SIZES = (100_000, 500_000, 2_000_000)
WAVE_TARGET = "SPRING26_BenchWave_20261211090000"  # the mailing the audience is built for (never registered)
T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def describe(result: dict[str, Any]) -> str:
    rate = f", {result['rows_per_s']:,}/s" if result.get("rows_per_s") else ""
    rss = f", peak RSS {result['peak_rss_mb']:.0f} MB" if result.get("peak_rss_mb") else ""
    return f"{result.get('rows', 0):,} rows in {result['seconds']:.2f} s{rate}{rss}"


def database_label(url: str) -> str:
    """The server's version and where it listens; never the password."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    version = str(row[0]).split()[0] if row else "?"
    parts = conninfo_to_dict(url)
    host = str(parts.get("host") or "")
    where = "Unix socket (embedded)" if host.startswith("/") else f"{host}:{parts.get('port') or 5432}"
    return f"PostgreSQL {version}, {where}/{parts.get('dbname') or 'postgres'}"


def airflow_conn(url: str) -> str:
    """The database as an Airflow connection in JSON (``AIRFLOW_CONN_<ID>``); a socket directory is its host."""
    p = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    conn: dict[str, Any] = {"conn_type": "postgres", "host": p.pop("host", None), "login": p.pop("user", None),
                            "password": p.pop("password", None), "schema": p.pop("dbname", None)}
    if "port" in p:
        conn["port"] = int(p.pop("port"))
    if p:
        conn["extra"] = p
    return json.dumps({k: v for k, v in conn.items() if v is not None})


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the library had uncommitted changes (then the figures are of those)."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "include", "plugins", "dags")
    return {"commit": git("rev-parse", "HEAD") or None, "uncommitted_changes": bool(changed)}


def step_env(tmp: Path) -> dict[str, str]:
    """What every step process gets: its own AIRFLOW_HOME (a temporary folder), this repo's DAGs and plugins."""
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(tmp / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "GX_ANALYTICS_ENABLED": "false",
    })
    (tmp / "airflow").mkdir(exist_ok=True)
    return env


def download_size(size: int, per_recipient: float, landing: Path, env: dict[str, str], page_size: int,
                  ) -> dict[str, Any]:
    """Serve the size's campaign and download both windows, each download in a process of its own."""
    recipients = recipients_for(size, per_recipient)
    progress(f"[{size:,} events] simulator: {recipients:,} recipients, building the campaign")
    out: dict[str, Any] = {"size": size, "recipients": recipients, "per_recipient": round(per_recipient, 4),
                           "download": {}}
    with SimulatorProcess(recipients) as sim:
        progress(f"[{size:,} events] simulator ready on {sim.base_url} in {sim.start_s:.1f} s")
        denv = {**env, "SMS_SIM_TOKEN": sim.token}
        for name, w in (("cold", window_cold()), ("steady", window_steady())):
            progress(f"[{size:,} events] download, {name} window {w.id}")
            r = run_step("steps.py", ["download", "--base-url", sim.base_url, "--start", w.start.isoformat(),
                                      "--end", w.end.isoformat(), "--landing", str(landing),
                                      "--page-size", str(page_size)], denv)
            progress(f"[{size:,} events] download, {name}: {describe(r)}")
            out["download"][name] = r
    out["simulator"] = {"start_s": sim.start_s, "peak_rss_mb": sim.peak_rss_mb}
    return out


def run_database(url: str, label: str, size_info: dict[str, Any], landing: Path, env: dict[str, str],
                 tmp: Path, methods: list[str]) -> dict[str, Any]:
    size = size_info["size"]
    tag = f"[{size:,} events · {label}]"
    schema, target = f"bench_{uuid.uuid4().hex[:8]}", ""
    denv = {**env, URL_ENV: url}
    steps: dict[str, Any] = {f"download_{w}": {**size_info["download"][w], "shared_across_databases": True}
                             for w in ("cold", "steady")}
    notes: list[str] = []
    anchors: dict[str, dict[str, Any]] = {"cold": {}, "steady": {}}
    export = tmp / f"export-{schema}"

    def step(key: str, args: list[str]) -> dict[str, Any]:
        progress(f"{tag} {key}")
        r = run_step("steps.py", args, denv)
        progress(f"{tag} {key}: {describe(r)}")
        steps[key] = r
        return r

    try:
        progress(f"{tag} migrating schema {schema}")
        migrate.upgrade(url, schema)
        for w_name, w in (("cold", window_cold()), ("steady", window_steady())):
            span = ["--start", w.start.isoformat(), "--end", w.end.isoformat(), "--schema", schema]
            r = step(f"import_{w_name}", ["import", "--landing", str(landing), *span])
            if not r["reconciles"]:
                notes.append(f"{tag} the {w_name} window does not reconcile: {r}")
            v = step(f"validation_{w_name}", ["validate", "--data-docs", str(tmp / "data_docs"), *span])
            if not v["success"]:
                notes.append(f"{tag} the {w_name} window failed the quality gate (published by the bench so the "
                             f"refreshes see it): {'; '.join(v['critical_failures'])}")
        step("segment_refresh", ["segments", "--schema", schema])
        step("metrics_refresh", ["metrics", "--schema", schema])
        step("audience_build", ["audience", "--schema", schema, "--source-mailing",
                                steps["import_cold"]["mailings"][0], "--target-mailing", WAVE_TARGET])

        target = f"{schema}_anchor"
        progress(f"{tag} anchors: schema {target}, exporting the imported rows")
        prepare_target(url, schema, target)
        export.mkdir()
        load_ids = {w: steps[f"import_{w}"]["load_id"] for w in ("cold", "steady")}
        for lid in load_ids.values():
            export_window(url, schema, lid, export)
        aenv = {**denv, "AIRFLOW_CONN_BENCH_ANCHOR": airflow_conn(url)}
        for method, name in ANCHORS:
            if method not in methods:
                continue
            progress(f"{tag} anchor {name}")
            r = run_step("anchors.py", [method, "--source-schema", schema, "--target-schema", target,
                                        "--load-id", load_ids["cold"], "--load-id", load_ids["steady"],
                                        "--export-dir", str(export)], aenv)
            for w, lid in load_ids.items():
                anchors[w][method] = {**r["windows"][lid], "peak_rss_mb": r.get("peak_rss_mb")}
                progress(f"{tag} anchor {name}, {w}: {describe(anchors[w][method])}")
    finally:
        for s in (schema, target):
            if s:
                drop_schema(url, s)
        shutil.rmtree(export, ignore_errors=True)
        progress(f"{tag} dropped schema(s) {schema}{', ' + target if target else ''}")
    return {"database": label, "size": size, "steps": steps, "anchors": anchors, "notes": notes}


def dag_parse(env: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for path in sorted((REPO / "dags").glob("*.py")):
        r = run_step("steps.py", ["parse", "--dag", str(path)], env)
        progress(f"parse {path.name}: {r['seconds'] * 1000:.0f} ms")
        out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                    help="records per window (default: 100000 500000 2000000)")
    ap.add_argument("--database-url", action="append", default=None,
                    help="a database to run on (repeatable); default: the embedded server and " + LOCAL_PG)
    ap.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--anchors", nargs="+", choices=[m for m, _ in ANCHORS], default=[m for m, _ in ANCHORS],
                    help="the yardsticks to run (default: all; to_sql_multi is the slowest, about 3k rows/s)")
    ap.add_argument("--page-size", type=int, default=5000, help="records per page of the event API (max 5000)")
    args = ap.parse_args()
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # the embedded server's wheel and platformdirs want one
    if any(s < 100 for s in args.sizes):
        ap.error("sizes are records per window; give at least 100")
    urls = list(dict.fromkeys(args.database_url or [resolve_url(Settings.from_env()), LOCAL_PG]))
    started = datetime.now(UTC)
    labels = {url: database_label(url) for url in urls}
    progress(f"sizes {args.sizes} on {', '.join(labels.values())}")
    runs: list[dict[str, Any]] = []
    sizes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = step_env(tmp)
        per_recipient = records_per_recipient()
        for size in sorted(set(args.sizes)):
            landing = tmp / f"landing-{size}"
            try:
                info = download_size(size, per_recipient, landing, env, args.page_size)
                sizes.append(info)
                for url in urls:
                    runs.append(run_database(url, labels[url], info, landing, env, tmp, args.anchors))
            finally:
                shutil.rmtree(landing, ignore_errors=True)
        progress("DAG file parse times")
        parse = dag_parse(env)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"), "took_s": round(time.perf_counter() - T0, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "code": code_version(),
        "sizes_requested": sorted(set(args.sizes)), "databases": list(labels.values()), "anchors": args.anchors,
        "construction": CONSTRUCTION, "sizes": sizes, "runs": runs, "dag_parse": parse,
    }
    results["ratios"] = all_ratios(results)
    md, js = write(results, args.results_dir, started.strftime("%Y%m%dT%H%M%SZ"))
    sys.stdout.write(markdown(results))
    progress(f"report: {md}; figures: {js}")


if __name__ == "__main__":
    main()
