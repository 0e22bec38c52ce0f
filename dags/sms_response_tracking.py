"""
### SMS response tracking: download, import, validate, publish

Closes the loop of multi-wave SMS marketing, one **publication-time window** per run
(hourly by default): downloads the SMS platform's `sentSMS` and `interactedSMS` events and
imports them into the response-tracking tables in PostgreSQL, validates them and publishes them.

| step | what it does |
|---|---|
| `download_events` | pages the event API over the window (cursor, retries, Retry-After) into landing files `<landing>/<window>/part-*.jsonl.gz` + `manifest.json`, replaced atomically on a rerun |
| `import_events` | normalises phones to E.164, maps attributes to columns (`mapping.yaml`), quarantines bad records in `event_rejects`, skips duplicates, COPYs and upserts in one transaction, updates `sms_consent`, and fails unless *downloaded = imported + duplicates + rejected* (`load_log`) |
| `validate_responses` | Great Expectations suites on the window's rows (SQL pushdown): critical failures fail the task with each failed expectation, its unexpected count and masked samples, and leave the window `failed_validation`; warnings are logged; results go to `validation_runs`, Data Docs to `SMS_RT_DATA_DOCS_DIR` |
| `publish` | marks the window `published` and emits the Asset `sms_response_tables` with the window, the mailings touched and the counts in the event's extra |

**Inputs**: connection `sms_platform` (event API; password = token), connection `sms_rt_postgres`
or `SMS_RT_DATABASE_URL` (else the embedded server). **Outputs**: `sms_sent`, `sms_interactions`,
`sms_consent`, `event_rejects`, `mailings`, `load_log`, `validation_runs`; Asset `sms_response_tables`.

**Re-running** any run, a backfill or a single task of a window gives the same tables.
**Triggered runs** may pass `window_start`/`window_end` (ISO-8601 with offset), `event_codes` and
`mailing_names`; without a window, a run with no data interval processes the last complete hour.
Only published windows feed segments (`sms_segments_refresh`, scheduled on the Asset).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

from sms_rt_airflow.constants import ASSET_RESPONSE_TABLES, MAILING_NAME_PATTERN, TAGS_PIPELINE, default_args

RESPONSE_TABLES = Asset(name="sms_response_tables", uri=ASSET_RESPONSE_TABLES)

SCHEDULE = os.environ.get("SMS_RT_CRON", "0 * * * *")
START_DATE = pendulum.parse(os.environ.get("SMS_RT_START_DATE", "2026-11-01T00:00:00+00:00"))
CATCHUP = os.environ.get("SMS_RT_CATCHUP", "false").lower() in ("1", "true", "yes")


@dag(
    dag_id="sms_response_tracking",
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=START_DATE,
    catchup=CATCHUP,
    max_active_runs=4,
    dagrun_timeout=timedelta(hours=2),
    doc_md=__doc__,
    tags=TAGS_PIPELINE,
    default_args=default_args(execution_timeout=timedelta(minutes=45)),
    params={
        "window_start": Param(
            None, type=["null", "string"], format="date-time",
            description="Start of the publication-time window (ISO-8601 with offset). With window_end.",
        ),
        "window_end": Param(
            None, type=["null", "string"], format="date-time",
            description="End (exclusive) of the window. With window_start.",
        ),
        "event_codes": Param(
            [], type="array", items={"type": "string", "enum": ["sentSMS", "interactedSMS"]}, uniqueItems=True,
            description="Only these event codes (empty = all).",
        ),
        "mailing_names": Param(
            [], type="array", items={"type": "string", "pattern": MAILING_NAME_PATTERN}, uniqueItems=True,
            description="Only events of these mailings (empty = all).",
        ),
    },
)
def sms_response_tracking() -> None:
    @task
    def download_events(**context: object) -> dict[str, object]:
        """Download the window's events into landing files (atomic; a rerun replaces them)."""
        from sms_rt_airflow import tasks

        return tasks.download(context)

    @task
    def import_events(downloaded: dict[str, object], **context: object) -> dict[str, object]:
        """Import the window into the response tables and reconcile its counts."""
        from sms_rt_airflow import tasks

        return tasks.import_(downloaded, context)

    @task
    def validate_responses(imported: dict[str, object], **context: object) -> dict[str, object]:
        """Quality gate (Great Expectations): critical failures stop the window, warnings are logged."""
        from sms_rt_airflow import tasks

        return tasks.validate(imported, context)

    @task(outlets=[RESPONSE_TABLES])
    def publish(validated: dict[str, object], **context: object) -> dict[str, object]:
        """Mark the window published: segments and waves read only published windows."""
        from sms_rt_airflow import tasks

        return tasks.publish(validated, context, RESPONSE_TABLES)

    publish(validate_responses(import_events(download_events())))


sms_response_tracking()
