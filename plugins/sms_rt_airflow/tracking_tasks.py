"""Task bodies of the ``sms_response_tracking`` DAG: validate_conf → download → import → validate → publish.

The run's window is built once, by ``check_conf``, and reaches every later task as ``Window.to_dict()``
through XCom; nothing rebuilds it from the context. Nothing returned here carries a secret: XCom gets
the window, paths and counts only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from sms_response.errors import (
    ConfigError,
    LandingError,
    MappingError,
    PlatformAuthError,
    ReconciliationError,
    WindowError,
)
from sms_response.run_conf import ConfError, validate_conf
from sms_response.settings import Settings
from sms_response.window import Window
from sms_rt_airflow.hooks import ResponseDbHook, SmsPlatformHook, db_connection

log = logging.getLogger(__name__)


@contextmanager
def fail_without_retry(*errors: type[BaseException]) -> Iterator[None]:
    """Errors that a retry cannot fix (bad credentials, bad mapping, counts that do not add up) fail at once."""
    try:
        yield
    except errors as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def check_conf(context: Any) -> dict[str, Any]:
    """The run's window (span and filters) from its conf, else its data interval, else the hour before run_after.

    Refuses a bad conf before the platform or the database is touched (no retry can fix a conf).
    """
    dag_run = context.get("dag_run")
    conf = dict(getattr(dag_run, "conf", None) or {})
    with fail_without_retry(ConfError, WindowError):
        # Params carry the conf when [core] dag_run_conf_overrides_params is on (the default);
        # the raw conf is checked too, so nothing a trigger sent escapes the check.
        run_conf = validate_conf({**dict(context.get("params") or {}), **conf})
        window = run_conf.window(
            data_interval_start=context.get("data_interval_start"),
            data_interval_end=context.get("data_interval_end"),
            run_after=getattr(dag_run, "run_after", None),
        )
    log.info("run %s processes window %s %s", getattr(dag_run, "run_id", None), window.id, window)
    return window.to_dict()


def download(window_value: Mapping[str, Any]) -> dict[str, Any]:
    with fail_without_retry(ConfigError, WindowError, PlatformAuthError):
        settings = Settings.from_env()
        window = Window.from_dict(window_value)
        client = SmsPlatformHook().event_source()
    from sms_response.download import download_window

    try:
        with fail_without_retry(PlatformAuthError):
            manifest = download_window(
                client,
                window,
                settings.landing_root,
                page_size=settings.page_size,
                part_max_records=settings.part_max_events,
                source_name=client.base_url,
            )
    finally:
        client.close()
    return {
        "window_id": window.id,
        "landing_dir": str(settings.landing_root / window.id),
        "pages": manifest.pages,
        "records": manifest.records,
        "bytes": manifest.bytes,
        "sha256": manifest.sha256,
    }


def import_(window_value: Mapping[str, Any], context: Any) -> dict[str, Any]:
    from sms_response.load import import_window
    from sms_response.mapping import load_mapping

    settings = Settings.from_env()
    window = Window.from_dict(window_value)
    dag_run = context.get("dag_run")
    during = f"the import of window {window.id}"
    with (db_connection(settings=settings, purpose=during) as conn,
          db_connection(settings=settings, autocommit=True, purpose=during) as lookup,
          fail_without_retry(MappingError, ReconciliationError, LandingError)):
        result = import_window(
            conn,
            settings.schema,
            settings.landing_root,
            window,
            load_mapping(settings.mapping_path),
            default_region=settings.default_region,
            run_id=getattr(dag_run, "run_id", None),
            fast_path=settings.import_fast_path,
            lookup_conn=lookup,
        )
    out: dict[str, Any] = result.as_dict()
    return out


def validate(window_value: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Run the quality gate on the window; fail the task on any critical expectation."""
    from sms_response.publish import record_validation
    from sms_response.quality import summary, validate_window

    settings = Settings.from_env()
    window = Window.from_dict(window_value)
    url = ResponseDbHook(settings=settings).libpq_uri()
    report = validate_window(url, settings.schema, window, settings.quality)
    dag_run = context.get("dag_run")
    with db_connection(settings=settings) as conn:
        status = record_validation(conn, report, getattr(dag_run, "run_id", None))
    text = summary(report)
    if not report.success:
        log.error("%s", text)
        # Retrying cannot fix the data: fail now instead of burning the retries.
        raise AirflowFailException(f"window {window.id} failed validation; not published.\n{text}")
    log.info("%s", text)
    return {"window_id": window.id, "status": status, "warnings": len(report.warnings), "data_docs": report.data_docs}


def publish(window_value: Mapping[str, Any], context: Any, asset: Any) -> dict[str, Any]:
    """Mark the window published and attach window, mailings and counts to the Asset event."""
    from sms_response.publish import publish_window

    window = Window.from_dict(window_value)
    with db_connection() as conn:
        extra = publish_window(conn, window.id)
    context["outlet_events"][asset].extra = extra
    log.info("published window %s: %d mailing(s), counts %s", extra["load_id"], len(extra["mailings"]), extra["counts"])
    return dict(extra)
