"""One pipeline step of ``make bench``, alone in its process: prints one JSON line with its seconds and peak RSS.

    BENCH_DATABASE_URL=... .venv/bin/python bench/steps.py import --landing DIR --start ISO --end ISO --schema S

Steps: ``download`` (HTTP from the simulator into landing files; token in ``SMS_SIM_TOKEN``), ``import``
(``sms_response.load.import_window``), ``validate`` (the quality gate as the DAG's validate task runs it, then the
window is published), ``segments`` and ``metrics`` (the refreshes of every published mailing), ``audience`` (a
wave's audience from a segment) and ``parse`` (one DAG file, after ``airflow.sdk`` is imported). Library modules
are imported inside each step, so a step's RSS holds only what it needs. Driven by ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from proc import database_url, emit

log = logging.getLogger("bench.steps")


def _window(args: argparse.Namespace) -> Any:
    from sms_response.window import Window

    return Window(datetime.fromisoformat(args.start), datetime.fromisoformat(args.end))


def download(args: argparse.Namespace) -> dict[str, Any]:
    from sms_response.download import download_window
    from sms_response.platform import SmsPlatformClient

    window = _window(args)
    client = SmsPlatformClient(args.base_url, os.environ["SMS_SIM_TOKEN"])
    try:
        t = time.perf_counter()
        manifest = download_window(client, window, args.landing, page_size=args.page_size)
        seconds = time.perf_counter() - t
    finally:
        client.close()
    return {"window_id": window.id, "records": manifest.records, "rows": manifest.records, "pages": manifest.pages,
            "bytes": manifest.bytes, "seconds": round(seconds, 3), "rows_per_s": round(manifest.records / seconds)}


def import_(args: argparse.Namespace) -> dict[str, Any]:
    from sms_response.db import connect
    from sms_response.load import import_window
    from sms_response.mapping import load_mapping

    window = _window(args)
    mapping = load_mapping()
    conn = connect(database_url(), args.schema)
    lookup = connect(database_url(), args.schema, autocommit=True)  # as the DAG's import task does
    try:
        t = time.perf_counter()
        result = import_window(conn, args.schema, args.landing, window, mapping, run_id="bench",
                               fast_path=os.environ.get("SMS_RT_IMPORT_FAST_PATH", "1") != "0", lookup_conn=lookup)
        seconds = time.perf_counter() - t
    finally:
        lookup.close()
        conn.close()
    out: dict[str, Any] = result.as_dict()
    out.update(records=result.downloaded, rows=result.downloaded, reconciles=result.reconciles,
               seconds=round(seconds, 3), rows_per_s=round(result.downloaded / seconds))
    return out


def validate(args: argparse.Namespace) -> dict[str, Any]:
    """``validate_window`` timed (GX over PostgreSQL, Data Docs built, as the DAG's task runs it); then the report is
    recorded and the window published, so the refresh steps see it. A window that fails the gate is published by
    the bench anyway (said in the output): the later steps still need it."""
    from dataclasses import replace

    from sms_response.db import connect
    from sms_response.publish import publish_window, record_validation
    from sms_response.quality import validate_window
    from sms_response.settings import Settings

    window = _window(args)
    url = database_url()
    cfg = replace(Settings.from_env().quality, data_docs_dir=args.data_docs)
    t = time.perf_counter()
    report = validate_window(url, args.schema, window, cfg)
    seconds = time.perf_counter() - t
    conn = connect(url, args.schema)
    try:
        record_validation(conn, report, "bench")
        if report.success:
            publish_window(conn, window.id)
            published = "by the gate"
        else:
            with conn.transaction():
                conn.execute("UPDATE load_log SET status = 'published' WHERE load_id = %s", (window.id,))
            published = "by the bench, despite the gate"
        row = conn.execute("SELECT downloaded FROM load_log WHERE load_id = %s", (window.id,)).fetchone()
        conn.commit()
    finally:
        conn.close()
    return {"window_id": window.id, "success": report.success, "expectations": len(report.outcomes),
            "critical_failures": [o.describe() for o in report.critical_failures],
            "warnings": len(report.warnings), "published": published, "rows": int(row[0]) if row else None,
            "seconds": round(seconds, 3)}


def segments(args: argparse.Namespace) -> dict[str, Any]:
    from sms_response.db import connect
    from sms_response.segments import mailings_with_published_data, refresh_segments

    conn = connect(database_url(), args.schema)
    try:
        mailings = mailings_with_published_data(conn)
        conn.commit()
        t = time.perf_counter()
        runs = refresh_segments(conn, mailings, trigger={"source": "bench"})
        seconds = time.perf_counter() - t
    finally:
        conn.close()
    members = sum(r.responders + r.non_responders for r in runs)
    return {"mailings": mailings, "responders": sum(r.responders for r in runs),
            "non_responders": sum(r.non_responders for r in runs), "rows": members,
            "seconds": round(seconds, 3), "rows_per_s": round(members / seconds) if seconds else None}


def metrics(args: argparse.Namespace) -> dict[str, Any]:
    """The metrics of every published mailing, with the settings the DAG's task uses (response window, pricing)."""
    from datetime import timedelta

    from sms_response.db import connect
    from sms_response.metrics.pricing import Pricing
    from sms_response.metrics.refresh import refresh_metrics
    from sms_response.segments import mailings_with_published_data
    from sms_response.settings import Settings

    settings = Settings.from_env()
    conn = connect(database_url(), args.schema)
    try:
        mailings = mailings_with_published_data(conn)
        conn.commit()
        t = time.perf_counter()
        result = refresh_metrics(conn, mailings, response_window=timedelta(hours=settings.response_window_hours),
                                 pricing=Pricing(settings.credits_per_part_gsm7, settings.credits_per_part_ucs2))
        seconds = time.perf_counter() - t
        row = conn.execute("SELECT count(*) FROM metric_recipients").fetchone()
    finally:
        conn.close()
    return {"mailings": list(result.mailings), "campaigns": list(result.campaigns),
            "rows": int(row[0]) if row else 0, "seconds": round(seconds, 3)}


def audience(args: argparse.Namespace) -> dict[str, Any]:
    """A wave's audience as ``plan_wave`` builds it (candidates from the segment, then consent, exclusions and the
    frequency cap), inside the planning lock, rolled back: nothing is planned."""
    from sms_response.db import connect
    from sms_response.sqlfiles import load_sql
    from sms_response.waves.audience import build_audience
    from sms_response.waves.sources import fill_candidates
    from sms_response.waves.targeting import AudienceSpec

    spec = AudienceSpec(source="segment", consent_policy=args.consent_policy, frequency_cap=args.frequency_cap,
                        frequency_days=7)
    conn = connect(database_url(), args.schema, autocommit=True)
    try:
        t = time.perf_counter()
        with conn.transaction(force_rollback=True):
            conn.execute(load_sql("wave_plan_lock"))
            candidates = fill_candidates(conn, spec, args.source_mailing, args.segment, None)
            found = build_audience(conn, spec, args.target_mailing)
        seconds = time.perf_counter() - t
    finally:
        conn.close()
    return {"source_mailing": args.source_mailing, "segment": args.segment, "consent_policy": spec.consent_policy,
            "frequency_cap": spec.frequency_cap, "candidates": candidates, "rows": candidates,
            "members": len(found.members), "excluded": found.excluded, "seconds": round(seconds, 3),
            "rows_per_s": round(candidates / seconds) if seconds else None}


def parse(args: argparse.Namespace) -> dict[str, Any]:
    """Import time of one DAG file after ``airflow.sdk`` is imported (as ``tests/dags`` prints it)."""
    import runpy

    import airflow.sdk  # noqa: F401  (Airflow's own import is not the file's cost)

    t = time.perf_counter()
    runpy.run_path(str(args.dag))
    seconds = time.perf_counter() - t
    heavy = [m for m in ("sms_response.load", "sms_response.platform", "psycopg", "pandas", "great_expectations",
                         "airflow.models.dagrun")
             if m in sys.modules]
    return {"dag_file": args.dag.name, "seconds": round(seconds, 4), "heavy_modules": heavy}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="step", required=True)

    def step(name: str, fn: Callable[[argparse.Namespace], dict[str, Any]], window: bool = False,
             schema: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name)
        p.set_defaults(fn=fn)
        if window:
            p.add_argument("--start", required=True)
            p.add_argument("--end", required=True)
        if schema:
            p.add_argument("--schema", required=True)
        return p

    p = step("download", download, window=True, schema=False)
    p.add_argument("--base-url", required=True)
    p.add_argument("--landing", type=Path, required=True)
    p.add_argument("--page-size", type=int, default=5000)
    step("import", import_, window=True).add_argument("--landing", type=Path, required=True)
    step("validate", validate, window=True).add_argument("--data-docs", type=Path, required=True)
    step("segments", segments)
    step("metrics", metrics)
    p = step("audience", audience)
    p.add_argument("--source-mailing", required=True)
    p.add_argument("--target-mailing", required=True)
    p.add_argument("--segment", default="non_responders")
    p.add_argument("--consent-policy", default="not_opted_out")
    p.add_argument("--frequency-cap", type=int, default=3)
    step("parse", parse, schema=False).add_argument("--dag", type=Path, required=True)
    return ap


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    args = _parser().parse_args()
    figures = args.fn(args)
    emit({"step": args.step, **figures})


if __name__ == "__main__":
    main()
