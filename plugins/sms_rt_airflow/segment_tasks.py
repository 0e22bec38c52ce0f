"""Task bodies of ``sms_segments_refresh``: pick the mailings, refresh their segments, describe the runs.

Nothing returned here carries a secret: XCom and the outlet event get mailing names, run ids and sizes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sms_response.segments import mailings_with_published_data, prune_segment_runs, refresh_segments
from sms_rt_airflow.assets import SEGMENTS
from sms_rt_airflow.constants import MAILING_NAME_PATTERN
from sms_rt_airflow.hooks import db_connection

log = logging.getLogger(__name__)

_MAILING_RE = re.compile(MAILING_NAME_PATTERN)


def mailings_from_asset_events(
    triggering_asset_events: Mapping[Any, Iterable[Any]] | None,
) -> tuple[list[str], list[str]]:
    """The union of ``extra["mailings"]`` over the triggering events, and their ``load_id``s (both sorted).

    Names that do not look like mailing names are skipped with a warning (the extra comes from another DAG).
    """
    mailings: set[str] = set()
    load_ids: set[str] = set()
    for events in (triggering_asset_events or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            for name in extra.get("mailings") or ():
                if isinstance(name, str) and _MAILING_RE.match(name):
                    mailings.add(name)
                else:
                    log.warning("ignoring mailing name %r in an asset event's extra", name)
            if isinstance(extra.get("load_id"), str):
                load_ids.add(extra["load_id"])
    return sorted(mailings), sorted(load_ids)


def refresh(context: Any) -> dict[str, Any]:
    params = context.get("params") or {}
    dag_run = context.get("dag_run")
    hours = int(params.get("response_window_hours") or 72)
    requested = [str(m) for m in params.get("mailing_names") or ()]
    from_events, load_ids = mailings_from_asset_events(context.get("triggering_asset_events"))

    with db_connection(purpose="the segment refresh") as conn:
        if requested:
            source, mailings = "params", requested
        elif from_events:
            source, mailings = "asset_events", from_events
        else:
            source, mailings = "all_published", mailings_with_published_data(conn)
            conn.commit()
        log.info("refreshing segments of %d mailing(s) (from %s): %s", len(mailings), source, mailings)
        trigger = {
            "dag_id": getattr(dag_run, "dag_id", None),
            "run_id": getattr(dag_run, "run_id", None),
            "source": source,
            "load_ids": load_ids,
        }
        results = refresh_segments(conn, mailings, response_window=timedelta(hours=hours), trigger=trigger)
        # History is for audit and comparison; without pruning it grows by every member on every refresh.
        pruned = prune_segment_runs(conn, keep=int(params.get("keep_segment_runs") or 10))
        conn.commit()

    runs = [r.as_dict() for r in results]
    outlet_events = context.get("outlet_events")
    if outlet_events is not None:
        outlet_events[SEGMENTS].extra = {
            "mailings": [r.mailing_name for r in results],
            "segment_runs": {r.mailing_name: r.segment_run_id for r in results},
            "sizes": {r.mailing_name: {"responders": r.responders, "non_responders": r.non_responders}
                      for r in results},
            "response_window_hours": hours,
        }
    return {"source": source, "response_window_hours": hours, "load_ids": load_ids, "runs": runs,
            "pruned_runs": pruned}
