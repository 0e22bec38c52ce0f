"""The reports, read from the metric tables and views only (never the event tables), as DataFrames.

Used by ``sms-rt report`` and the dashboard. Phones are masked unless ``unmasked=True`` is asked for.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg
from psycopg.rows import TupleRow

from sms_response.errors import SmsResponseError
from sms_response.phones import mask

Conn = psycopg.Connection[TupleRow]

CAMPAIGNS_SQL = "SELECT * FROM report_campaigns ORDER BY last_sent_at DESC NULLS LAST, campaign_code"
CAMPAIGN_SQL = "SELECT * FROM report_campaigns WHERE campaign_code = %(code)s"
CAMPAIGN_MAILINGS_SQL = (
    "SELECT * FROM report_mailings WHERE campaign_code = %(code)s ORDER BY first_sent_at NULLS LAST, mailing_name")
CAMPAIGN_DAYS_SQL = "SELECT * FROM report_campaign_days WHERE campaign_code = %(code)s ORDER BY day"
CAMPAIGNS_DAYS_SQL = "SELECT * FROM report_campaign_days ORDER BY campaign_code, day"
MAILING_SQL = "SELECT * FROM report_mailings WHERE mailing_name = %(name)s"
LINKS_SQL = "SELECT * FROM report_links WHERE mailing_name = %(name)s ORDER BY link_index NULLS LAST, target_url"
ACTIONS_SQL = "SELECT * FROM report_actions WHERE mailing_name = %(name)s ORDER BY taps DESC, action_name"
FAILURES_SQL = (
    "SELECT * FROM metric_failures WHERE mailing_name = %(name)s "
    "ORDER BY messages DESC, delivery_status, status_code NULLS LAST, carrier NULLS LAST")
INBOX_SQL = (
    "SELECT * FROM metric_inbox WHERE mailing_name = %(name)s AND (is_latest OR NOT %(latest)s) "
    "ORDER BY replied_at DESC, event_id")
TIMING_SQL = "SELECT * FROM metric_response_timing WHERE mailing_name = %(name)s ORDER BY kind, bucket"
VARIANTS_SQL = "SELECT * FROM report_variants WHERE mailing_name = %(name)s ORDER BY is_holdout, variant_group"
LIFT_SQL = "SELECT * FROM metric_lift WHERE mailing_name = %(name)s ORDER BY outcome DESC"
SAMPLE_GATE_SQL = (
    "SELECT mailing_name, status, winner, sample_stats ->> 'p_value' AS p_value, "
    "sample_stats ->> 'winner_reason' AS winner_reason, sample_stats ->> 'delivery_rate' AS sample_delivery_rate, "
    "audience_size, holdout_size FROM wave_runs WHERE mailing_name = %(name)s")


class UnknownReportSubject(SmsResponseError):
    """No metrics for that campaign or mailing (a typo, or no published window has refreshed it yet)."""


def frame(conn: Conn, query: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    cur = conn.execute(query, params or {})
    columns = [d.name for d in cur.description or ()]
    return pd.DataFrame(cur.fetchall(), columns=columns)


def campaigns(conn: Conn) -> pd.DataFrame:
    return frame(conn, CAMPAIGNS_SQL)


def campaigns_days(conn: Conn) -> pd.DataFrame:
    """Every campaign's days in one read (the campaigns list draws a trend per campaign)."""
    return frame(conn, CAMPAIGNS_DAYS_SQL)


def campaign(conn: Conn, code: str) -> dict[str, pd.DataFrame]:
    """A campaign's totals, its blasts and its days."""
    total = frame(conn, CAMPAIGN_SQL, {"code": code})
    if total.empty:
        raise UnknownReportSubject(
            f"no metrics for campaign {code!r}: check the code (sms-rt report campaigns lists them) "
            "or refresh the metrics (sms-rt metrics refresh)")
    return {
        "campaign": total,
        "mailings": frame(conn, CAMPAIGN_MAILINGS_SQL, {"code": code}),
        "days": frame(conn, CAMPAIGN_DAYS_SQL, {"code": code}),
    }


def mailing(conn: Conn, name: str) -> pd.DataFrame:
    out = frame(conn, MAILING_SQL, {"name": name})
    if out.empty:
        raise UnknownReportSubject(
            f"no metrics for mailing {name!r}: check the name or refresh the metrics (sms-rt metrics refresh)")
    return out


def links(conn: Conn, name: str) -> pd.DataFrame:
    return frame(conn, LINKS_SQL, {"name": name})


def actions(conn: Conn, name: str) -> pd.DataFrame:
    return frame(conn, ACTIONS_SQL, {"name": name})


def failures(conn: Conn, name: str) -> pd.DataFrame:
    return frame(conn, FAILURES_SQL, {"name": name})


def timing(conn: Conn, name: str) -> pd.DataFrame:
    return frame(conn, TIMING_SQL, {"name": name})


def inbox(conn: Conn, name: str, *, latest_only: bool = False, unmasked: bool = False) -> pd.DataFrame:
    """Replies to a mailing; phones masked unless ``unmasked``."""
    out = frame(conn, INBOX_SQL, {"name": name, "latest": latest_only})
    if not unmasked and not out.empty:
        out["phone_e164"] = out["phone_e164"].map(mask)
    return out


def variants(conn: Conn, name: str) -> dict[str, pd.DataFrame]:
    """A wave's groups, its lift over the holdout and the sample gate's decision."""
    return {
        "variants": frame(conn, VARIANTS_SQL, {"name": name}),
        "lift": frame(conn, LIFT_SQL, {"name": name}),
        "sample_gate": frame(conn, SAMPLE_GATE_SQL, {"name": name}),
    }
