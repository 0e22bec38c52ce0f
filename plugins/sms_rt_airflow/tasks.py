"""Task bodies of the DAGs: read the run's context, call hooks and the library, return small dicts.

Nothing returned here carries a secret: XCom gets window ids, paths and counts only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sms_response import migrate
from sms_response.config import Settings
from sms_response.db import connection
from sms_response.download import download_window
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.window import Window, resolve_run_window
from sms_rt_airflow.hooks import ResponseDbHook, SmsPlatformHook

log = logging.getLogger(__name__)


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
    settings = Settings.from_env()
    window = window_from_context(context)
    params = context.get("params") or {}
    client = SmsPlatformHook().get_conn()
    try:
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
    with connection(url, settings.schema) as conn:
        result = import_window(
            conn,
            settings.schema,
            settings.landing_root,
            window,
            load_mapping(settings.mapping_path),
            default_region=settings.default_region,
            run_id=getattr(dag_run, "run_id", None),
        )
    return result.as_dict()
