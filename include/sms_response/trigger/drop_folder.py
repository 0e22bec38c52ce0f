"""The drop folder: a flowchart leaves a request as a JSON file; each file becomes one table row, exactly once.

A writer never shows a half-written file (temporary hidden name, fsync, rename). An ingester takes
a file by renaming it into ``processing/``, so of several ingesters exactly one has it; the row is
keyed by the file name, so a file ingested again after a crash gives no second row. The file then
moves to ``done/``, or to ``rejected/`` with the reason in ``<name>.reason``. Callers pass the
folder (``Settings.drop_dir`` or a ``--drop-dir``); nothing here reads the environment.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sms_response.trigger.request import InvalidTrigger, TriggerRequest, show
from sms_response.trigger.store import Conn, insert_file_request, insert_rejected_file

MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class IngestResult:
    """What one pass over the drop folder did: trigger ids created, files already ingested, files refused."""

    created: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def write_trigger_file(drop_dir: Path, req: TriggerRequest, requested_by: str | None = None) -> Path:
    """Write a request into the drop folder atomically (temporary name, fsync, rename); return its path."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}.json"
    body = req.to_dict()
    if requested_by:
        body["requested_by"] = requested_by
    tmp = drop_dir / f".{name}.tmp"  # hidden and not *.json: ingesters never see a half-written file
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    final = drop_dir / name
    os.rename(tmp, final)
    return final


def _requeue_stale(processing: Path, drop_dir: Path, stale_after: timedelta) -> None:
    """Files an ingester took and never finished (it died) go back to the drop folder."""
    limit = datetime.now(UTC).timestamp() - stale_after.total_seconds()
    for path in processing.glob("*.json"):
        try:
            if path.stat().st_mtime < limit:
                os.rename(path, drop_dir / path.name)
        except FileNotFoundError:
            continue


def _read_request(path: Path) -> tuple[TriggerRequest, str | None]:
    if path.is_symlink() or not path.is_file():
        raise InvalidTrigger("not a regular file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidTrigger(f"file is {size} bytes; at most {MAX_FILE_BYTES}")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidTrigger(f"not valid JSON: {exc}") from None
    req = TriggerRequest.from_dict(data)
    requested_by = data.get("requested_by")
    if requested_by is not None and (not isinstance(requested_by, str) or len(requested_by) > 200):
        raise InvalidTrigger(f"requested_by must be a short string, not {show(requested_by)}")
    return req, requested_by


def ingest_drop_folder(
    conn: Conn, drop_dir: Path, *, stale_after: timedelta = timedelta(minutes=10)
) -> IngestResult:
    """Turn every ``*.json`` file of ``drop_dir`` into a ``flowchart_triggers`` row, exactly once.

    Each file is first moved to ``processing/`` by an atomic rename, so of several ingesters
    exactly one takes it; the row is keyed by the file name (``source_ref`` UNIQUE, ON CONFLICT DO
    NOTHING), so even a file ingested twice after a crash gives one row. Then the file moves to
    ``done/``, or to ``rejected/`` with the reason in ``<name>.reason`` and a ``rejected`` row.
    """
    processing, done, rejected_dir = drop_dir / "processing", drop_dir / "done", drop_dir / "rejected"
    for d in (processing, done, rejected_dir):
        d.mkdir(parents=True, exist_ok=True)
    _requeue_stale(processing, drop_dir, stale_after)
    result = IngestResult()
    for src in sorted(drop_dir.glob("*.json")):
        taken = processing / src.name
        try:
            os.rename(src, taken)
            os.utime(taken)  # the claim time, for _requeue_stale
        except FileNotFoundError:
            continue  # another ingester took it
        try:
            req, requested_by = _read_request(taken)
        except InvalidTrigger as exc:
            insert_rejected_file(conn, src.name, f"{src.name}: {exc}")
            (rejected_dir / f"{src.name}.reason").write_text(f"{exc}\n", encoding="utf-8")
            _move(taken, rejected_dir / src.name)
            result.rejected.append(src.name)
            continue
        trigger_id = insert_file_request(conn, req, src.name, requested_by or "drop folder")
        if trigger_id is None:
            result.duplicates.append(src.name)
        else:
            result.created.append(trigger_id)
        _move(taken, done / src.name)
    return result


def _move(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass  # a concurrent ingester that re-took a stale file moved it already


def has_drop_files(drop_dir: Path) -> bool:
    """Whether ``drop_dir`` holds a request file waiting to be ingested (cheap: stops at the first)."""
    try:
        return next(drop_dir.glob("*.json"), None) is not None
    except OSError:
        return False
