"""
### SMS segments refresh: responders and non-responders per mailing

Runs whenever `sms_response_tracking` publishes a window (Asset `sms_response_tables`) and
rebuilds the **responder** / **non-responder** segments of the mailings that window touched, from
published windows only. Campaign flowcharts read them through the views `responders` and
`non_responders`; the next wave (`sms_campaign_wave`) picks one of them.

| segment | who |
|---|---|
| responders | first delivered send of the mailing, then a click, reply, action or conversion *of that mailing* within the response window (default 72 h) while not opted out; with `first_response_at`, `response_types`, `action_names` |
| non_responders | first delivered send of the mailing and no such response |

Both exclude phones currently opted out and phones that ever hard-failed. A STOP reply is an
opt-out, never a response.

Every refresh of a mailing is a new versioned `segment_runs` row; its members are inserted and the
views switched to it in **one transaction**, so a reader sees the previous complete run or the new
one, never a partial one. A failed refresh leaves a `failed` run and the views unchanged.

After the refresh, segment runs beyond the newest `keep_segment_runs` complete ones per mailing
(default 10) are deleted with their members; the current run is always kept.

**Mailings**: the `mailing_names` param when given, else the mailings named by the triggering asset
events, else every mailing with published data. **Params**: `mailing_names`,
`response_window_hours` (1–720), `keep_segment_runs` (1–1000). **Output**: Asset `sms_segments`, whose event carries the run ids
and sizes.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from sms_rt_airflow.assets import RESPONSE_TABLES, SEGMENTS
from sms_rt_airflow.constants import MAILING_NAME_PATTERN, TAGS_SEGMENTS, default_args


@dag(
    dag_id="sms_segments_refresh",
    schedule=[RESPONSE_TABLES],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    doc_md=__doc__,
    tags=TAGS_SEGMENTS,
    default_args=default_args(execution_timeout=timedelta(hours=1)),
    params={
        "mailing_names": Param(
            [], type="array", items={"type": "string", "pattern": MAILING_NAME_PATTERN}, uniqueItems=True,
            description="Refresh these mailings (empty = the mailings of the triggering windows, else all).",
        ),
        "response_window_hours": Param(
            72, type="integer", minimum=1, maximum=720,
            description="A response counts if it comes within this many hours after the send.",
        ),
        "keep_segment_runs": Param(
            10, type="integer", minimum=1, maximum=1000,
            description="Complete segment runs kept per mailing (older ones and their members are deleted).",
        ),
    },
)
def sms_segments_refresh() -> None:
    @task(outlets=[SEGMENTS])
    def refresh_segments(**context: object) -> dict[str, object]:
        """Rebuild the responder / non-responder segments (one transaction per mailing)."""
        from sms_rt_airflow import segment_tasks

        return segment_tasks.refresh(context)

    refresh_segments()


sms_segments_refresh()
