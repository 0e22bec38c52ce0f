"""
### SMS campaign metrics: delivery, clicks, responses, opt-outs, conversions, credits and lift

Runs whenever `sms_response_tracking` publishes a window (Asset `sms_response_tables`) and refreshes
the metric tables of the mailings that window touched (plus the mailings whose responses an opt-out or
opt-in in it can change), then the totals of their campaigns, from **published windows only**, in one
transaction. Reports read the `report_*` views, `sms-rt report` and the dashboard; never the event tables.

| figure | per |
|---|---|
| sent, delivered / failed / undelivered, delivery rate, parts and credits (GSM-7 / UCS-2 prices) | mailing, campaign, day |
| clicks, unique clickers, responders (the segments' response rule), replies, opt-outs, conversions and their rates, cost per response | mailing, campaign, day |
| links (clicks per short link), tracked responses per action name, inbox, response timing, failures by code and carrier | mailing |
| A/B variants, the holdout, lift over the holdout with a 95 % Newcombe interval | wave |

Every definition: `docs/metrics.md`. Refreshing twice or rebuilding everything gives the same figures.
**Params**: `mailing_names` (refresh these), `full_rebuild` (every mailing). **Settings**:
`SMS_RT_RESPONSE_WINDOW_HOURS`, `SMS_RT_CREDITS_PER_PART_GSM7`, `SMS_RT_CREDITS_PER_PART_UCS2`.
**Output**: Asset `sms_campaign_metrics`, whose event names the mailings and campaigns refreshed.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from sms_rt_airflow.assets import CAMPAIGN_METRICS, RESPONSE_TABLES
from sms_rt_airflow.constants import MAILING_NAME_PATTERN, TAGS_METRICS, default_args


@dag(
    dag_id="sms_campaign_metrics",
    schedule=[RESPONSE_TABLES],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    doc_md=__doc__,
    tags=TAGS_METRICS,
    default_args=default_args(execution_timeout=timedelta(hours=1)),
    params={
        "mailing_names": Param(
            [], type="array", items={"type": "string", "pattern": MAILING_NAME_PATTERN}, uniqueItems=True,
            description="Refresh these mailings (empty = the mailings of the triggering windows).",
        ),
        "full_rebuild": Param(False, type="boolean", description="Recompute every mailing and campaign."),
    },
)
def sms_campaign_metrics() -> None:
    @task(outlets=[CAMPAIGN_METRICS])
    def refresh_metrics(**context: object) -> dict[str, object]:
        """Recompute the metric tables of the touched mailings and their campaigns (one transaction)."""
        from sms_rt_airflow import metrics_tasks

        return metrics_tasks.refresh(context)

    refresh_metrics()


sms_campaign_metrics()
