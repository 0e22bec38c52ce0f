"""Task body of ``sms_campaign_metrics``: pick the mailings a published window touched, refresh their metrics.

XCom and the outlet event carry mailing names, campaign codes and a duration only.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sms_response.metrics.pricing import Pricing
from sms_response.metrics.refresh import affected_mailings, refresh_metrics
from sms_response.settings import Settings
from sms_rt_airflow.assets import CAMPAIGN_METRICS
from sms_rt_airflow.hooks import db_connection
from sms_rt_airflow.segment_tasks import mailings_from_asset_events

log = logging.getLogger(__name__)


def refresh(context: Any) -> dict[str, Any]:
    """``full_rebuild`` param → every mailing; ``mailing_names`` → those; else the triggering windows' mailings
    plus those whose responses an opt-out or opt-in in those windows can change."""
    params = context.get("params") or {}
    settings = Settings.from_env()
    from_events, load_ids = mailings_from_asset_events(context.get("triggering_asset_events"))
    with db_connection(settings=settings) as conn:
        mailings: list[str] | None
        if params.get("full_rebuild"):
            source, mailings = "full_rebuild", None
        elif params.get("mailing_names"):
            source, mailings = "params", [str(m) for m in params["mailing_names"]]
        elif from_events or load_ids:
            source = "asset_events"
            mailings = sorted(set(from_events) | set(affected_mailings(conn, load_ids)))
            conn.commit()
        else:
            source, mailings = "full_rebuild", None
        log.info("refreshing metrics (%s): %s", source, "every mailing" if mailings is None else mailings)
        result = refresh_metrics(
            conn, mailings,
            response_window=timedelta(hours=settings.response_window_hours),
            pricing=Pricing(settings.credits_per_part_gsm7, settings.credits_per_part_ucs2),
        )
    out = {"source": source, "load_ids": load_ids, **result.as_dict()}
    outlet_events = context.get("outlet_events")
    if outlet_events is not None:
        outlet_events[CAMPAIGN_METRICS].extra = {"mailings": list(result.mailings), "campaigns": list(result.campaigns)}
    return out
