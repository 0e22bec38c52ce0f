"""Download one window of events into landing files (the ``eventsDownload`` step)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from sms_response.landing import LandingWriter, Manifest
from sms_response.platform import EventSource
from sms_response.window import Window

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 10.0


def download_window(
    source: EventSource,
    window: Window,
    landing_root: Path,
    *,
    page_size: int = 1000,
    part_max_records: int = 50_000,
    source_name: str = "event-api",
) -> Manifest:
    """Fetch every page of ``window`` (its span and filters) and publish it atomically as its landing files."""
    landing_root.mkdir(parents=True, exist_ok=True)
    writer = LandingWriter(landing_root, window.id, part_max_records)
    started = time.monotonic()
    last_log = started
    pages = records = http_bytes = 0
    try:
        for page in source.pages(window, window.event_codes, window.mailing_names, page_size):
            pages += 1
            http_bytes += page.raw_bytes
            for env in page.envelopes:
                records += writer.write(env)
            now = time.monotonic()
            if now - last_log >= PROGRESS_EVERY_SECONDS:
                elapsed = now - started
                log.info(
                    "window %s: %d pages, %d records, %.1f MB so far (%.0f records/s)",
                    window.id, pages, records, http_bytes / 1e6, records / elapsed if elapsed else 0.0,
                )
                last_log = now
        manifest = writer.commit(
            {
                "window_start": window.start.isoformat(),
                "window_end": window.end.isoformat(),
                "filters": {"codes": list(window.event_codes), "mailings": list(window.mailing_names)},
                "pages": pages,
                "source": source_name,
                "downloaded_at": datetime.now(UTC).isoformat(),
                "http_bytes": http_bytes,
                "retries": int(getattr(source, "retries_done", 0)),
            }
        )
    except BaseException:
        writer.abort()
        raise
    elapsed = time.monotonic() - started
    log.info(
        "window %s downloaded: %d pages, %d records in %d part(s), %.2f s (%.0f records/s), sha256 %s",
        window.id, manifest.pages, manifest.records, len(manifest.parts), elapsed,
        manifest.records / elapsed if elapsed else 0.0, manifest.sha256[:12],
    )
    return manifest
