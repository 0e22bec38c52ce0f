"""``sms-rt`` command line: migrations, the embedded server and reports.

    sms-rt migrate            apply the versioned migrations to the response schema
    sms-rt report             per-table counts and per-window reconciliation
    sms-rt report campaigns | campaign CODE | mailing NAME [--links --actions --inbox --variants …] [--csv F]
                              campaign metrics (docs/metrics.md)
    sms-rt metrics refresh [--mailing NAME …]   recompute the metric tables (all mailings without --mailing)
    sms-rt fingerprint        md5 of every table (to prove a rerun changed nothing)
    sms-rt segment-sizes      current segment run and sizes per mailing (JSON)
    sms-rt wave MAILING       a campaign wave: status, winner, sample outcome, recipients by state
    sms-rt contacts load --csv FILE | --table NAME | --view NAME | --query-file FILE   (docs/audiences.md)
    sms-rt consent load --csv FILE | --platform                                       (docs/audiences.md)
    sms-rt embedded start|stop|url
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from sms_response import migrate, report
from sms_response.consent import cli as consent_cli
from sms_response.contacts import cli as contacts_cli
from sms_response.db import connection, embedded_url, resolve_url, stop_embedded
from sms_response.errors import SmsResponseError
from sms_response.metrics import cli as metrics_cli
from sms_response.settings import Settings


def _redact(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "<unparseable url>"
    if parts.get("password"):
        parts["password"] = "***"
    return make_conninfo(**parts)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sms-rt", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="apply migrations (idempotent)")
    rep = sub.add_parser("report", help="table counts and window reconciliation, or a campaign / mailing report")
    metrics_cli.add_report_arguments(rep)
    met = sub.add_parser("metrics", help="refresh the campaign metrics")
    metrics_cli.add_metrics_arguments(met)
    sub.add_parser("fingerprint", help="table fingerprints as JSON")
    sub.add_parser("segment-sizes", help="current segment run and sizes per mailing as JSON")
    wave = sub.add_parser("wave", help="report of one campaign wave")
    wave.add_argument("mailing")
    contacts_cli.add_arguments(sub.add_parser("contacts", help="load contacts (all or nothing, upsert by phone)"))
    consent_cli.add_arguments(sub.add_parser("consent", help="load consent records (list or platform export)"))
    emb = sub.add_parser("embedded", help="the embedded PostgreSQL server under .local/")
    emb.add_argument("action", choices=["start", "stop", "url"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    try:
        if args.cmd == "embedded":
            if args.action == "stop":
                print("stopped" if stop_embedded(settings.embedded_pgdata) else "not running")
            else:
                url = embedded_url(settings.embedded_pgdata)
                print(url if args.action == "url" else f"embedded PostgreSQL running: {url}")
            return 0
        url = resolve_url(settings)
        if args.cmd == "migrate":
            rev = migrate.upgrade(url, settings.schema)
            print(f"schema {settings.schema} at revision {rev} on {_redact(url)}")
            return 0
        if args.cmd in ("report", "metrics", "contacts", "consent"):
            migrate.upgrade(url, settings.schema)  # their tables arrive with a migration
        with connection(url, settings.schema) as conn:
            if args.cmd == "wave":
                from sms_response.waves.report import wave_report

                print(json.dumps(wave_report(conn, args.mailing), indent=1, default=str))
            elif args.cmd == "segment-sizes":
                print(json.dumps(report.segment_sizes(conn)))
            elif args.cmd == "report" and args.subject:
                print(metrics_cli.report(conn, args))
            elif args.cmd == "contacts":
                print(contacts_cli.run(conn, settings, args))
            elif args.cmd == "consent":
                print(consent_cli.run(conn, settings, args))
            elif args.cmd == "metrics":
                print(metrics_cli.refresh(conn, settings, args.mailing))
            elif args.cmd == "report":
                counts, recon = report.table_counts(conn), report.reconciliation(conn)
                print(report.format_report(counts, recon, report.segment_sizes(conn)))
            else:
                print(json.dumps(report.fingerprint(conn), indent=1, default=str))
        return 0
    except SmsResponseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
