"""``sms-rt report campaign|campaigns|mailing`` and ``sms-rt metrics refresh``: the reports on a terminal or as CSV.

    sms-rt report campaigns
    sms-rt report campaign CODE [--csv FILE]
    sms-rt report mailing NAME [--links] [--actions] [--inbox [--latest] [--unmasked]] [--variants]
                               [--failures] [--timing] [--csv FILE]
    sms-rt metrics refresh [--mailing NAME ...]      (no --mailing: rebuild every mailing)

``--csv FILE`` writes the table shown (with several sections, one file each: ``<stem>_<section>.csv``),
written by pandas.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pandas as pd

from sms_response.metrics import read
from sms_response.metrics.pricing import Pricing
from sms_response.metrics.refresh import Conn, refresh_metrics
from sms_response.settings import Settings

MAILING_SECTIONS = ("links", "actions", "inbox", "variants", "failures", "timing")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", nargs="?", choices=["campaigns", "campaign", "mailing"],
                        help="without a subject: table counts and window reconciliation")
    parser.add_argument("name", nargs="?", help="the campaign code or mailing name")
    for section in MAILING_SECTIONS:
        parser.add_argument(f"--{section}", action="store_true", help=f"a mailing's {section} report")
    parser.add_argument("--latest", action="store_true", help="inbox: only each phone's latest reply")
    parser.add_argument("--unmasked", action="store_true", help="inbox: show phone numbers unmasked")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the report as CSV (pandas)")


def add_metrics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["refresh"])
    parser.add_argument("--mailing", action="append", default=None, help="refresh only these mailings")


def refresh(conn: Conn, settings: Settings, mailings: list[str] | None) -> str:
    result = refresh_metrics(
        conn, mailings, response_window=timedelta(hours=settings.response_window_hours),
        pricing=Pricing(settings.credits_per_part_gsm7, settings.credits_per_part_ucs2))
    return (f"metrics refreshed: {len(result.mailings)} mailing(s), {len(result.campaigns)} campaign(s) "
            f"in {result.seconds:.2f} s")


def report(conn: Conn, args: argparse.Namespace) -> str:
    """The text of a metrics report (and its CSV files when ``--csv`` is given)."""
    if args.subject == "campaigns":
        return _emit({"campaigns": read.campaigns(conn)}, args.csv)
    if not args.name:
        raise SystemExit(f"sms-rt report {args.subject}: give the {args.subject}'s name")
    if args.subject == "campaign":
        return _emit(read.campaign(conn, args.name), args.csv)
    sections: dict[str, pd.DataFrame] = {"mailing": read.mailing(conn, args.name)}
    chosen = [s for s in MAILING_SECTIONS if getattr(args, s)]
    if chosen:
        sections = {}
    for section in chosen:
        if section == "inbox":
            sections["inbox"] = read.inbox(conn, args.name, latest_only=args.latest, unmasked=args.unmasked)
        elif section == "variants":
            sections.update(read.variants(conn, args.name))
        else:
            sections[section] = getattr(read, section)(conn, args.name)
    return _emit(sections, args.csv)


def _emit(sections: Mapping[str, pd.DataFrame], csv: Path | None) -> str:
    lines: list[str] = []
    for title, df in sections.items():
        lines.append(f"== {title} ({len(df)} row(s))")
        if df.empty:
            lines.append("(none)")
        elif len(df) == 1 and len(df.columns) > 8:
            # One wide row (a campaign's or mailing's totals) reads better as name: value lines.
            lines.extend(f"{col:24} {_fmt(val)}" for col, val in df.iloc[0].items())
        else:
            lines.append(df.to_string(index=False, max_colwidth=60))
        lines.append("")
    if csv is not None:
        for title, df in sections.items():
            path = csv if len(sections) == 1 else csv.with_name(f"{csv.stem}_{title}{csv.suffix or '.csv'}")
            df.to_csv(path, index=False)
            lines.append(f"wrote {path} ({len(df)} row(s))")
    return "\n".join(lines).rstrip()


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)
