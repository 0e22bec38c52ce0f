"""The Twilio receiver's partition files: what it appends and what a window's import reads.

One JSON line per accepted event, in one file per UTC hour of the event's own time
(``<dir>/YYYY/MM/DD/HH.jsonl``)::

    {"received_at": "…Z", "time": "…Z", "time_from": "time", "event": {…the CloudEvent as received…}}

``time`` is the instant the partition was chosen by (the CloudEvent's ``time``, else ``data.timestamp``,
else ``data.click_time``, else the receipt time; a value without a time zone is never guessed), so the
receiver and the reader agree on which window an event belongs to. A re-delivered event has the same
time, so it always lands in the same file as its first delivery.

Durability: ``PartitionWriter.append`` writes, flushes and ``fsync``s every file it touched (and the
directories it created) before it returns, and the receiver acknowledges only after that. A crash in the
middle of a write can leave an unterminated last line that was never acknowledged: ``repair`` (run at
the receiver's start) cuts it off, and the reader ignores it meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
HOUR = timedelta(hours=1)
# Where an event's own time may be found, in order; the first tz-aware one wins.
TIME_SOURCES: tuple[tuple[str, ...], ...] = (("time",), ("data", "timestamp"), ("data", "click_time"))


def parse_aware(value: Any) -> datetime | None:
    """An ISO-8601 instant with an explicit offset, in UTC; None for anything else (never guessed)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        return None
    return dt.astimezone(UTC)


def iso_z(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time(event: Mapping[str, Any], received_at: datetime) -> tuple[datetime, str]:
    """The instant an event is filed under, and where it came from (``time``, ``data.timestamp``, …)."""
    for path in TIME_SOURCES:
        value: Any = event
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        found = parse_aware(value)
        if found is not None:
            return found, ".".join(path)
    return received_at.astimezone(UTC), "received_at"


def hour_floor(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def partition_path(root: Path, at: datetime) -> Path:
    h = hour_floor(at)
    return root / f"{h:%Y}" / f"{h:%m}" / f"{h:%d}" / f"{h:%H}{SUFFIX}"


def stored_line(event: Mapping[str, Any], received_at: datetime) -> tuple[Path, bytes]:
    """The partition (relative path) and the line an accepted event is appended as."""
    at, source = event_time(event, received_at)
    doc = {"received_at": iso_z(received_at), "time": iso_z(at), "time_from": source, "event": event}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return partition_path(Path("."), at), (text + "\n").encode("utf-8")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PartitionWriter:
    """Appends lines to partition files durably; one writer per directory (the receiver)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def append(self, lines: Iterable[tuple[Path, bytes]]) -> int:
        """Append ``(relative partition, line)`` pairs; returns once every byte is on disk."""
        by_file: dict[Path, list[bytes]] = {}
        for rel, line in lines:
            by_file.setdefault(self.root / rel, []).append(line)
        with self._lock:
            for path, chunk in sorted(by_file.items()):
                new_dirs = self._make_dirs(path.parent)
                existed = path.exists()
                with open(path, "ab") as fh:
                    fh.write(b"".join(chunk))
                    fh.flush()
                    os.fsync(fh.fileno())
                # A new file (or directory) is durable only once its directory entry is.
                for d in ([path.parent] if not existed else []) + new_dirs:
                    _fsync_dir(d)
        return sum(len(c) for c in by_file.values())

    def _make_dirs(self, directory: Path) -> list[Path]:
        """Create ``directory`` and its missing parents; the parents whose entries changed (to fsync)."""
        missing: list[Path] = []
        d = directory
        while not d.exists():
            missing.append(d)
            d = d.parent
        for m in reversed(missing):
            m.mkdir(exist_ok=True)
        return [m.parent for m in missing]

    def repair(self) -> list[Path]:
        """Cut an unterminated last line (a write a crash interrupted, never acknowledged) off each file."""
        repaired: list[Path] = []
        with self._lock:
            for path in sorted(self.root.rglob(f"*{SUFFIX}")):
                size = path.stat().st_size
                if size == 0:
                    continue
                with open(path, "rb+") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) == b"\n":
                        continue
                    fh.seek(0)
                    keep = fh.read().rfind(b"\n") + 1
                    fh.truncate(keep)
                    fh.flush()
                    os.fsync(fh.fileno())
                log.warning("partition %s ended in an unfinished line (a write interrupted before it was "
                            "acknowledged): cut %d byte(s)", path, size - keep)
                repaired.append(path)
        return repaired


@dataclass(frozen=True)
class StoredLine:
    """One line of a partition file: ``doc`` is the parsed line, or None when it is not valid JSON."""

    position: str  # <relative file>:<line number>
    time: datetime  # the instant it is filed under (an unreadable line: its partition's hour)
    doc: dict[str, Any] | None
    raw: str


def read_lines(root: Path, start: datetime, end: datetime) -> Iterator[StoredLine]:
    """Every complete line of the partitions overlapping ``[start, end)``, whose time falls inside it.

    Files are read in time order; an unterminated last line (being written, or never acknowledged) is
    skipped. Unreadable lines are yielded with ``doc=None`` (and their partition's hour as time) so the
    caller can quarantine them.
    """
    hour = hour_floor(start)
    while hour < end:
        path = partition_path(root, hour)
        if path.exists():
            yield from _file_lines(root, path, hour, start, end)
        hour += HOUR


def _file_lines(root: Path, path: Path, hour: datetime, start: datetime, end: datetime) -> Iterator[StoredLine]:
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    rel = path.relative_to(root).as_posix()
    for lineno, raw_bytes in enumerate(complete.splitlines(), start=1):
        raw = raw_bytes.decode("utf-8", errors="replace")
        doc: Any = None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        at = parse_aware(doc.get("time")) if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or not isinstance(doc.get("event"), dict) or at is None:
            if start <= hour < end:
                yield StoredLine(f"{rel}:{lineno}", hour, None, raw)
            continue
        if start <= at < end:
            yield StoredLine(f"{rel}:{lineno}", at, doc, raw)
