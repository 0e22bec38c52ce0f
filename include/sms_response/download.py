"""Download one window of events into landing files (the ``eventsDownload`` step).

A failed download (the platform gave up, the disk filled, the process was stopped) publishes nothing:
its version folder is removed and the window's landing link keeps pointing where it did (or nowhere).
A process killed mid-download cannot remove its folder, so downloads of one window take turns under a
lock (``.locks/<window>.lock``, released by the system when its holder dies) and the next one removes
every unpublished version of the window it finds: under the lock, none is being written.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sms_response.errors import LandingDiskFull
from sms_response.landing import VERSIONS_DIR, LandingWriter, Manifest
from sms_response.platform import EventSource
from sms_response.window import Window

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 10.0
LOCKS_DIR = ".locks"


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
    started = time.monotonic()
    try:
        with _window_lock(landing_root, window.id) as locked:
            if locked:
                _remove_abandoned_versions(landing_root, window.id)
            manifest = _download(source, window, landing_root, page_size, part_max_records, source_name, started)
    except OSError as exc:
        full = _disk_full(exc, window, landing_root)
        if full is None:
            raise
        raise full from exc
    elapsed = time.monotonic() - started
    log.info(
        "window %s downloaded: %d pages, %d records in %d part(s), %.2f s (%.0f records/s), sha256 %s",
        window.id, manifest.pages, manifest.records, len(manifest.parts), elapsed,
        manifest.records / elapsed if elapsed else 0.0, manifest.sha256[:12],
    )
    return manifest


def _download(source: EventSource, window: Window, landing_root: Path, page_size: int, part_max_records: int,
              source_name: str, started: float) -> Manifest:
    last_log = started
    pages = records = http_bytes = 0
    writer = LandingWriter(landing_root, window.id, part_max_records)
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
        return writer.commit(
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
        _abort(writer)
        log.error("window %s: download failed after %d page(s); nothing was published", window.id, pages)
        raise


@contextmanager
def _window_lock(landing_root: Path, window_id: str) -> Iterator[bool]:
    """Hold the window's download lock (waiting for another download of the same window); yields False where the
    file system has no locks (then nothing is swept)."""
    locks = landing_root / LOCKS_DIR
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{window_id}.lock").open("a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            log.warning("window %s: %s has no file locks (%s); abandoned versions are not removed", window_id,
                        landing_root, exc)
            yield False
            return
        try:
            yield True
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


def _remove_abandoned_versions(landing_root: Path, window_id: str) -> None:
    """Remove the window's versions that were never published (a download killed before it could clean up)."""
    link = landing_root / window_id
    published = link.resolve() if link.is_symlink() else None
    for version in (landing_root / VERSIONS_DIR).glob(f"{window_id}.*"):
        if version.is_dir() and version.resolve() != published:
            shutil.rmtree(version, ignore_errors=True)
            log.info("window %s: removed %s, an unpublished version an earlier download left behind", window_id,
                     version.name)


_FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
         errno.EFBIG: "a file size limit was reached"}


def _disk_full(exc: OSError, window: Window, landing_root: Path) -> LandingDiskFull | None:
    """A user-facing error for a full landing folder (an ``OSError`` alone names neither the window nor where)."""
    what = _FULL.get(exc.errno or 0)
    if what is None:
        return None
    try:
        usage = shutil.disk_usage(landing_root)
        space = f"{usage.free / 1e6:.1f} MB free of {usage.total / 1e6:.1f} MB"
    except OSError:
        space = "free space unknown"
    return LandingDiskFull(
        f"window {window.id}: {what} while writing its landing files under {landing_root} ({space}; "
        f"{exc.strerror or exc}). Nothing was published: the window's landing files are as before. "
        "Free space there (or point SMS_RT_LANDING_DIR elsewhere) and run the download again."
    )


def _abort(writer: LandingWriter) -> None:
    """Remove the unpublished version; closing a part on a full disk can fail again, which must not hide the
    download's own error (the version is removed all the same)."""
    try:
        writer.abort()
    except OSError as exc:
        log.warning("window %s: closing the unpublished landing version failed (%s); it was removed",
                    writer.window_id, exc)
