"""Refresh the metric tables: the mailings a published window touched, or everything.

A refresh of some mailings deletes and recomputes their rows from the rows of published windows, then
recomputes the totals of their campaigns from the metric tables, in one transaction: readers see the
old figures or the new ones. Refreshing is a pure function of the published rows, so refreshing twice,
or a full rebuild, gives the same figures as incremental refreshes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from sms_response.metrics.lift import newcombe_lift
from sms_response.metrics.pricing import Pricing, gsm7_regex
from sms_response.sqlfiles import load_sql, sql_statements

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]

DEFAULT_RESPONSE_WINDOW = timedelta(hours=72)
DEFAULT_PRICING = Pricing()
# Serialises metric refreshes (two refreshes of overlapping campaigns would otherwise race).
_METRICS_LOCK_KEY = 0x5D5_0006


@dataclass(frozen=True)
class MetricsRefresh:
    mailings: tuple[str, ...]
    campaigns: tuple[str, ...]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"mailings": list(self.mailings), "campaigns": list(self.campaigns), "seconds": self.seconds}


def all_mailings(conn: Conn) -> list[str]:
    """Every mailing that has rows in a published window, or metric rows to clear."""
    rows = conn.execute(load_sql("metrics_all_mailings")).fetchall()
    return [str(r[0]) for r in rows]


def affected_mailings(conn: Conn, load_ids: Sequence[str]) -> list[str]:
    """Mailings with interactions of phones that opted out or in within ``load_ids``: their responses may change."""
    if not load_ids:
        return []
    rows = conn.execute(load_sql("metrics_affected_mailings"), {"load_ids": list(load_ids)}).fetchall()
    return sorted(str(r[0]) for r in rows)


def refresh_metrics(
    conn: Conn,
    mailings: Sequence[str] | None = None,
    *,
    response_window: timedelta = DEFAULT_RESPONSE_WINDOW,
    pricing: Pricing = DEFAULT_PRICING,
) -> MetricsRefresh:
    """Recompute the metrics of ``mailings`` (None: every mailing, a full rebuild) and of their campaigns."""
    t0 = time.monotonic()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_METRICS_LOCK_KEY,))
        names = sorted(set(all_mailings(conn) if mailings is None else mailings))
        campaigns_before = _campaigns_of(conn, names)
        params = {
            "mailings": names,
            "response_window": response_window,
            "gsm7_regex": gsm7_regex(),
            "price_gsm7": pricing.gsm7,
            "price_ucs2": pricing.ucs2,
        }
        for statement in sql_statements("metrics_refresh_mailings"):
            conn.execute(statement, params)
        _store_lift(conn, names)
        # A mailing may have moved campaign (or lost its rows): refresh the old and the new campaign.
        campaigns = sorted(set(campaigns_before) | set(_campaigns_of(conn, names)))
        for statement in sql_statements("metrics_refresh_campaigns"):
            conn.execute(statement, {"campaigns": campaigns})
    seconds = round(time.monotonic() - t0, 3)
    log.info("metrics refreshed: %d mailing(s), %d campaign(s) in %.2f s", len(names), len(campaigns), seconds)
    return MetricsRefresh(tuple(names), tuple(campaigns), seconds)


def _campaigns_of(conn: Conn, mailings: Sequence[str]) -> list[str]:
    rows = conn.execute(load_sql("metrics_campaigns_of"), {"mailings": list(mailings)}).fetchall()
    return [str(r[0]) for r in rows]


def _store_lift(conn: Conn, mailings: Sequence[str]) -> None:
    rows = conn.execute(load_sql("metrics_lift_inputs"), {"mailings": list(mailings)}).fetchall()
    for mailing, n_t, resp_t, conv_t, n_h, resp_h, conv_h in rows:
        if not n_h:
            continue  # no holdout: nothing to compare against
        for outcome, hits_t, hits_h in (("response", resp_t, resp_h), ("conversion", conv_t, conv_h)):
            lift = newcombe_lift(int(hits_t or 0), int(n_t or 0), int(hits_h or 0), int(n_h or 0))
            conn.execute(load_sql("metrics_insert_lift"), {
                "mailing": mailing, "outcome": outcome, "significant": lift.significant, **asdict(lift)})
