"""The event files of a simulated UBX subscriber endpoint, cut from the platform's published record log.

Records are grouped by publication time into periods (5 minutes by default, aligned to the epoch, so
to every hour).  The first time a listing sees records of a period that no file holds yet, it seals
them into a new file (at most ``max_records`` per file, in log order), renders it once
(``ubx_render``) and writes it under the work directory; a sealed file never changes, and records
published into a period later go into a further file of that period.  A file is "created" at the
last millisecond of its period, so a window aligned to periods lists exactly the files of the
records published in it: the truth of the event API (``PlatformState.truth``) holds for UBX too.

Quirks of the listing, both seen on real file-drop APIs:

* a file listed twice (every ``duplicate_every``-th file appears as two identical entries, which
  paging may put on two pages);
* a file re-listed after it was downloaded: later listings carry a second entry for it, created
  ``relist_after`` after the first (as if the platform had published it again).

``expire`` makes files vanish from the listing and their download answer 410, as a platform's
retention does: a client that kept what it fetched can still rerun a window.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .clock import US_PER_MS, from_us, to_us
from .records import Entry
from .state import PageError, PlatformState
from .ubx_render import UbxShape, render_record

_LOW = to_us(datetime(2000, 1, 1, tzinfo=UTC))
_SPAN_PERIODS = 2**24  # with 5-minute periods: about 160 years from 2000


@dataclass(frozen=True)
class EventFile:
    name: str
    created_us: int
    path: Path
    size: int
    events: int  # notifications in the file

    def entry(self, created_us: int | None = None) -> dict[str, Any]:
        created = from_us(self.created_us if created_us is None else created_us)
        return {"fileName": self.name, "created": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "size": self.size, "eventCount": self.events}


@dataclass(frozen=True)
class ListingQuirks:
    duplicate_every: int = 7  # 0: no file is listed twice
    relist_after: timedelta | None = timedelta(hours=1)  # None: a downloaded file is never re-listed


@dataclass
class UbxFiles:
    """Thread-safe registry of the endpoint's event files."""

    state: PlatformState
    directory: Path
    shape: UbxShape = field(default_factory=UbxShape)
    period: timedelta = timedelta(minutes=5)
    max_records: int = 500
    quirks: ListingQuirks = field(default_factory=ListingQuirks)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _files: list[EventFile] = field(default_factory=list, repr=False)
    _by_name: dict[str, EventFile] = field(default_factory=dict, repr=False)
    _sealed_ids: dict[int, set[int]] = field(default_factory=dict, repr=False)  # period start -> id(entry)
    _sealed_len: int = -1
    _seq: dict[int, int] = field(default_factory=dict, repr=False)  # period start -> files written
    _downloads: dict[str, int] = field(default_factory=dict, repr=False)
    _expired: set[str] = field(default_factory=set, repr=False)
    _list_requests: int = 0

    def __post_init__(self) -> None:
        self._period_us = self.period // timedelta(microseconds=1)
        if self._period_us <= 0 or (3600 * 1_000_000) % self._period_us:
            raise ValueError("period must divide an hour")
        if self.max_records < 1:
            raise ValueError("max_records must be >= 1")
        self.directory.mkdir(parents=True, exist_ok=True)

    # -- sealing ----------------------------------------------------------------------------------

    def _periods(self, lo_us: int, n_periods: int) -> Iterator[tuple[int, Sequence[Entry]]]:
        """(period start, its records) of every period holding records, found by halving the span."""
        hi_us = lo_us + n_periods * self._period_us
        entries = self.state.entries_between(from_us(lo_us), from_us(hi_us))
        if not entries:
            return
        if n_periods == 1:
            yield lo_us, entries
            return
        half = n_periods // 2
        yield from self._periods(lo_us, half)
        yield from self._periods(lo_us + half * self._period_us, n_periods - half)

    def _seal(self) -> None:
        size = len(self.state)
        if size == self._sealed_len:
            return  # the log only grows: nothing new since the last look
        low = _LOW - _LOW % self._period_us
        for start_us, entries in self._periods(low, _SPAN_PERIODS):
            sealed = self._sealed_ids.setdefault(start_us, set())
            fresh = [e for e in entries if id(e) not in sealed]
            for i in range(0, len(fresh), self.max_records):
                chunk = fresh[i:i + self.max_records]
                self._write(start_us, chunk)
                sealed.update(id(e) for e in chunk)
        self._sealed_len = size

    def _write(self, start_us: int, records: Sequence[Entry]) -> None:
        seq = self._seq.get(start_us, 0)
        self._seq[start_us] = seq + 1
        stamp = from_us(start_us).strftime("%Y%m%dT%H%M%SZ")
        name = f"ubx-events-{stamp}-{seq:02d}.json"
        notifications: list[Any] = []
        salt = start_us // self._period_us + seq
        for i, record in enumerate(records):
            notifications += render_record(record.to_json(), salt + i, self.shape)
        body = json.dumps(notifications, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
        event_file = EventFile(name, start_us + self._period_us - US_PER_MS, path, len(body), len(notifications))
        self._files.append(event_file)
        self._by_name[name] = event_file

    # -- the endpoint -------------------------------------------------------------------------------

    def _entries(self) -> list[tuple[tuple[int, str, int], dict[str, Any]]]:
        out: list[tuple[tuple[int, str, int], dict[str, Any]]] = []
        for n, f in enumerate(self._files):
            if f.name in self._expired:
                continue
            out.append(((f.created_us, f.name, 0), f.entry()))
            every = self.quirks.duplicate_every
            if every and n % every == every // 2:
                out.append(((f.created_us, f.name, 1), f.entry()))
            relist = self.quirks.relist_after
            if relist is not None and self._downloads.get(f.name):
                later = f.created_us + relist // timedelta(microseconds=1)
                out.append(((later, f.name, 2), f.entry(later)))
        out.sort(key=lambda item: item[0])
        return out

    def list_page(self, limit: int | None, cursor: str | None = None, offset: int | None = None) -> dict[str, Any]:
        """One page of the listing: keyset ``cursor`` paging (answer carries ``next``), or ``offset``; every
        entry at once when ``limit`` is None."""
        if limit is not None and not 1 <= limit <= 5000:
            raise PageError("limit must be between 1 and 5000")
        with self._lock:
            self._list_requests += 1
            self._seal()
            items = self._entries()
        if limit is None:
            return {"eventFiles": [entry for _, entry in items], "next": None}
        if offset is not None:
            if offset < 0:
                raise PageError("offset must be >= 0")
            page = items[offset:offset + limit]
            return {"eventFiles": [entry for _, entry in page], "total": len(items)}
        start = 0
        if cursor is not None:
            after = _decode_cursor(cursor)
            start = next((i for i, (key, _) in enumerate(items) if key > after), len(items))
        page = items[start:start + limit]
        more = start + limit < len(items)
        return {"eventFiles": [entry for _, entry in page], "next": _encode_cursor(page[-1][0]) if more else None}

    def content(self, name: str) -> bytes | None:
        """The bytes of a listed file; None for an unknown file. Raises ``FileExpired`` after ``expire``."""
        with self._lock:
            event_file = self._by_name.get(name)
            if event_file is None:
                return None
            if name in self._expired:
                raise FileExpired(name)
            self._downloads[name] = self._downloads.get(name, 0) + 1
        return event_file.path.read_bytes()

    def expire(self, before: datetime | None = None) -> int:
        """Forget every file created before ``before`` (all when None); returns how many vanished."""
        with self._lock:
            self._seal()
            limit = None if before is None else to_us(before)
            gone = {f.name for f in self._files if limit is None or f.created_us < limit} - self._expired
            self._expired |= gone
            return len(gone)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"files": len(self._files), "expired": len(self._expired), "list_requests": self._list_requests,
                    "downloads": dict(self._downloads)}


class FileExpired(Exception):
    """The file existed but the platform no longer keeps it."""


def _encode_cursor(key: tuple[int, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created, name, copy = raw
        if not isinstance(created, int) or not isinstance(name, str) or not isinstance(copy, int):
            raise ValueError
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise PageError("malformed cursor") from exc
    return created, name, copy
