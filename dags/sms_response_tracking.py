"""
### SMS response tracking: download, import, validate, publish

Closes the loop of multi-wave SMS marketing, one **publication-time window** per run
(hourly by default): downloads the SMS platform's `sentSMS` and `interactedSMS` events and
imports them into the response-tracking tables in PostgreSQL, validates them and publishes them.

| step | what it does |
|---|---|
| `validate_conf` | refuses a bad run conf before anything touches the database or the platform (fails at once, no retry): unknown keys, only one end of the window, naive or non-ISO timestamps, `window_end` not after `window_start`, unknown event codes, mailing names not matching `^[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}$`; returns the run's window (span, filters, id), which every later task receives |
| `download_events` | pages the event API over the window (cursor, retries, Retry-After) into landing files `<landing>/<window>/part-*.jsonl.gz` + `manifest.json`, replaced atomically on a rerun |
| `import_events` | normalises phones to E.164, maps attributes to columns (`mapping.yaml`), quarantines bad records in `event_rejects`, skips duplicates, COPYs and upserts in one transaction, updates `sms_consent`, and fails unless *downloaded = imported + duplicates + rejected* (`load_log`) |
| `validate_responses` | Great Expectations suites on the window's rows (SQL pushdown): critical failures fail the task with each failed expectation, its unexpected count and masked samples, and leave the window `failed_validation`; warnings are logged; results go to `validation_runs`, Data Docs to `SMS_RT_DATA_DOCS_DIR` |
| `publish` | marks the window `published` and emits the Asset `sms_response_tables` with the window, the mailings touched and the counts in the event's extra |

**Inputs**: connection `sms_platform` (event API; password = token), connection `sms_rt_postgres`
or `SMS_RT_DATABASE_URL` (else the embedded server). **Outputs**: `sms_sent`, `sms_interactions`,
`sms_consent`, `event_rejects`, `mailings`, `load_log`, `validation_runs`; Asset `sms_response_tables`.

**Re-running** any run, a backfill or a single task of a window gives the same tables.
**Triggered runs** may pass `window_start`/`window_end` (ISO-8601 with offset, both or neither), `event_codes`
and `mailing_names`, nothing else; wrong types are refused when the run is triggered (REST answers 400), the
rest by `validate_conf`. Without a window, a run with no data interval processes the last complete hour.
`download_events` runs in the pool `sms_platform_api` (the platform's rate limit; create it once).
Only published windows feed segments (`sms_segments_refresh`, scheduled on the Asset).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from sms_response.run_conf import PARAMS_SCHEMA
from sms_rt_airflow.assets import RESPONSE_TABLES
from sms_rt_airflow.constants import TAGS_PIPELINE, default_args

SCHEDULE = os.environ.get("SMS_RT_CRON", "0 * * * *")
START_DATE = pendulum.parse(os.environ.get("SMS_RT_START_DATE", "2026-11-01T00:00:00+00:00"))
# No scheduled run after this date (manual runs and backfills up to it still work); unset = no end.
END_DATE = pendulum.parse(os.environ["SMS_RT_END_DATE"]) if os.environ.get("SMS_RT_END_DATE") else None
CATCHUP = os.environ.get("SMS_RT_CATCHUP", "false").lower() in ("1", "true", "yes")
# Pool of the platform's event API (rate limit): `airflow pools set sms_platform_api 2 "SMS platform event API"`.
PLATFORM_POOL = os.environ.get("SMS_RT_PLATFORM_POOL", "sms_platform_api")

# Params of triggered runs; their JSON schema (types, ISO-8601 with offset, mailing-name pattern, known
# event codes) lives in sms_response.run_conf so Airflow's trigger-time check and validate_conf agree.
PARAM_DEFAULTS: dict[str, object] = {"window_start": None, "window_end": None, "event_codes": [], "mailing_names": []}


@dag(
    dag_id="sms_response_tracking",
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=START_DATE,
    end_date=END_DATE,
    catchup=CATCHUP,
    # Windows may load in any order: an event the platform re-delivers in a later window belongs to the
    # earliest window that holds it (an import takes it over from a later window that loaded first), so
    # parallel runs, backfills and out-of-order reruns give the same tables. Downloads overlap (capped by
    # the platform pool); imports serialise on a lock.
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=2),
    doc_md=__doc__,
    tags=TAGS_PIPELINE,
    default_args=default_args(execution_timeout=timedelta(minutes=45)),
    params={key: Param(default, **PARAMS_SCHEMA[key]) for key, default in PARAM_DEFAULTS.items()},
)
def sms_response_tracking() -> None:
    @task
    def validate_conf(**context: Any) -> dict[str, Any]:
        """Refuse a bad run conf before any DB or API call; return the run's window (span, filters, id)."""
        from sms_rt_airflow import tracking_tasks

        return tracking_tasks.check_conf(context)

    @task(pool=PLATFORM_POOL)
    def download_events(window: dict[str, Any]) -> dict[str, Any]:
        """Download the window's events into landing files (atomic; a rerun replaces them)."""
        from sms_rt_airflow import tracking_tasks

        return tracking_tasks.download(window)

    @task
    def import_events(window: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Import the window into the response tables and reconcile its counts."""
        from sms_rt_airflow import tracking_tasks

        return tracking_tasks.import_(window, context)

    @task
    def validate_responses(window: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Quality gate (Great Expectations): critical failures stop the window, warnings are logged."""
        from sms_rt_airflow import tracking_tasks

        return tracking_tasks.validate(window, context)

    @task(outlets=[RESPONSE_TABLES])
    def publish(window: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Mark the window published: segments and waves read only published windows."""
        from sms_rt_airflow import tracking_tasks

        return tracking_tasks.publish(window, context, RESPONSE_TABLES)

    # The window is built once, by validate_conf, and every later task receives it (XCom).
    window = validate_conf()
    download_events(window) >> import_events(window) >> validate_responses(window) >> publish(window)


sms_response_tracking()
