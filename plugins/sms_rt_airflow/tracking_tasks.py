"""Task bodies of the DAGs: read the run's context, call hooks and the library, return small dicts.

Nothing returned here carries a secret: XCom gets window ids, paths and counts only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from sms_response import migrate
from sms_response.settings import Settings
from sms_response.db import connection
from sms_response.download import download_window
from sms_response.errors import (
    ConfigError,
    LandingError,
    MappingError,
    PlatformAuthError,
    ReconciliationError,
    WindowError,
)
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.publish import publish_window, record_validation
from sms_response.quality import QualityConfig, summary, validate_window
from sms_response.window import Window, resolve_run_window
from sms_rt_airflow.hooks import ResponseDbHook, SmsPlatformHook

log = logging.getLogger(__name__)


@contextmanager
def fail_without_retry(*errors: type[BaseException]) -> Iterator[None]:
    """Errors that a retry cannot fix (bad credentials, bad mapping, counts that do not add up) fail at once."""
    try:
        yield
    except errors as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def window_from_context(context: Any) -> Window:
    params = context.get("params") or {}
    dag_run = context.get("dag_run")
    run_after: datetime | None = getattr(dag_run, "run_after", None) if dag_run is not None else None
    span = resolve_run_window(
        window_start=params.get("window_start"),
        window_end=params.get("window_end"),
        data_interval_start=context.get("data_interval_start"),
        data_interval_end=context.get("data_interval_end"),
        run_after=run_after,
    )
    return Window.filtered(span.start, span.end, params.get("event_codes") or (), params.get("mailing_names") or ())


def download(context: Any) -> dict[str, Any]:
    with fail_without_retry(ConfigError, WindowError, PlatformAuthError):
        settings = Settings.from_env()
        window = window_from_context(context)
        client = SmsPlatformHook().get_conn()
    params = context.get("params") or {}
    try:
        with fail_without_retry(PlatformAuthError):
            manifest = download_window(
                client,
                window,
                settings.landing_root,
                codes=params.get("event_codes") or (),
                mailings=params.get("mailing_names") or (),
                page_size=settings.page_size,
                part_max_records=settings.part_max_events,
                source_name=client.base_url,
            )
    finally:
        client.close()
    return {
        "window_id": window.id,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "filter_key": window.filter_key,
        "landing_dir": str(settings.landing_root / window.id),
        "pages": manifest.pages,
        "records": manifest.records,
        "bytes": manifest.bytes,
        "sha256": manifest.sha256,
    }


def import_(downloaded: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    window = Window.from_iso(downloaded["window_start"], downloaded["window_end"], downloaded.get("filter_key", ""))
    url = ResponseDbHook(settings=settings).get_uri()
    migrate.upgrade(url, settings.schema)
    dag_run = context.get("dag_run")
    with connection(url, settings.schema) as conn, fail_without_retry(MappingError, ReconciliationError, LandingError):
        result = import_window(
            conn,
            settings.schema,
            settings.landing_root,
            window,
            load_mapping(settings.mapping_path),
            default_region=settings.default_region,
            run_id=getattr(dag_run, "run_id", None),
        )
    out: dict[str, Any] = result.as_dict()
    return out


def validate(imported: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the quality gate on the window; fail the task on any critical expectation."""
    settings = Settings.from_env()
    window = Window.from_iso(imported["window_start"], imported["window_end"])
    load_id = imported["load_id"]
    cfg = QualityConfig.from_env(default_docs=settings.local_dir / "data_docs")
    url = ResponseDbHook(settings=settings).get_uri()
    report = validate_window(url, settings.schema, window, load_id, cfg)
    dag_run = context.get("dag_run")
    with connection(url, settings.schema) as conn:
        status = record_validation(conn, report, getattr(dag_run, "run_id", None))
    text = summary(report)
    if not report.success:
        log.error("%s", text)
        # Retrying cannot fix the data: fail now instead of burning the retries.
        raise AirflowFailException(f"window {load_id} failed validation; not published.\n{text}")
    log.info("%s", text)
    return {"load_id": load_id, "status": status, "warnings": len(report.warnings), "data_docs": report.data_docs}


def publish(validated: dict[str, Any], context: Any, asset: Any) -> dict[str, Any]:
    """Mark the window published and attach window, mailings and counts to the Asset event."""
    settings = Settings.from_env()
    url = ResponseDbHook(settings=settings).get_uri()
    with connection(url, settings.schema) as conn:
        extra = publish_window(conn, validated["load_id"])
    context["outlet_events"][asset].extra = extra
    log.info("published window %s: %d mailing(s), counts %s", extra["load_id"], len(extra["mailings"]), extra["counts"])
    return dict(extra)
