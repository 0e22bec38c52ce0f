"""What the UBX adapter keeps of an endpoint: when each event file was first listed, and its bytes.

The toolkit's ``eventsDownload`` keeps the files it fetched on local disk; so does this ledger, under
the landing root (``<landing>/.ubx/<endpoint>/``, or the extra ``ubx_cache_dir``):

* ``files/<key>.json``: a file's entry (name, publication time, listed size, first seen); written once,
  by an atomic create, so the first sighting of a name decides which window the file belongs to, and a
  file the server lists again later, or lists twice, never lands in a second window;
* ``hours/<YYYYMMDDHH>/<key>``: an index by publication hour, written before the entry, so a window
  finds its files without reading every entry;
* ``blobs/<key>.json.gz``: the bytes as downloaded, gzip (its CRC catches a damaged copy), written
  atomically.

A rerun of a window therefore reads the same files in the same order, even after the server dropped
them. Concurrent downloads (windows of one endpoint in parallel tasks) are safe: every write is a
create-or-rename of a complete file. ``key`` is a hash of the file name (names may hold any character).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sms_response.errors import LandingError

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class LedgerEntry:
    name: str
    created: datetime
    size: int | None
    first_seen: str

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "created": self.created.isoformat(), "size": self.size,
                           "first_seen": self.first_seen}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LedgerEntry:
        doc = json.loads(text)
        return cls(str(doc["name"]), datetime.fromisoformat(doc["created"]).astimezone(UTC),
                   doc.get("size"), str(doc.get("first_seen", "")))


def _key(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


def _hour(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y%m%d%H")


class Ledger:
    """The ledger of one endpoint, rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            for sub in ("files", "hours", "blobs", "tmp"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LandingError(f"cannot create the UBX ledger under {root}: {exc}") from exc

    def _tmp(self) -> Path:
        return self.root / "tmp" / uuid.uuid4().hex

    def get(self, name: str) -> LedgerEntry | None:
        return self._read(self.root / "files" / f"{_key(name)}.json")

    @staticmethod
    def _read(path: Path) -> LedgerEntry | None:
        try:
            return LedgerEntry.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            raise LandingError(f"UBX ledger entry {path} is unreadable ({exc}); move it away to list the file "
                               "afresh") from exc

    def register(self, name: str, created: datetime, size: int | None) -> LedgerEntry:
        """The entry of ``name``: the one on record, or this sighting if it is the first."""
        known = self.get(name)
        if known is not None:
            return known
        entry = LedgerEntry(name, created.astimezone(UTC), size, datetime.now(UTC).isoformat(timespec="seconds"))
        key = _key(name)
        hour_dir = self.root / "hours" / _hour(entry.created)
        hour_dir.mkdir(exist_ok=True)
        (hour_dir / key).touch()  # the index first: an entry is never without it
        tmp = self._tmp()
        tmp.write_text(entry.to_json(), encoding="utf-8")
        try:
            os.link(tmp, self.root / "files" / f"{key}.json")  # atomic create: the first sighting wins
        except FileExistsError:
            theirs = self.get(name)
            if theirs is not None:
                return theirs
        finally:
            tmp.unlink(missing_ok=True)
        return entry

    def entries_between(self, start: datetime, end: datetime) -> list[LedgerEntry]:
        """Entries published in ``[start, end)``, ordered by (publication time, name)."""
        out: list[LedgerEntry] = []
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour < end:
            hour_dir = self.root / "hours" / _hour(hour)
            if hour_dir.is_dir():
                for marker in hour_dir.iterdir():
                    # None: an index written by a registration that did not finish
                    entry = self._read(self.root / "files" / f"{marker.name}.json")
                    if entry is not None and start <= entry.created < end:
                        out.append(entry)
            hour += HOUR
        return sorted(out, key=lambda e: (e.created, e.name))

    def cached(self, name: str) -> bytes | None:
        """The kept bytes of ``name``, or None (never fetched, or the copy is damaged)."""
        path = self.root / "blobs" / f"{_key(name)}.json.gz"
        try:
            return gzip.decompress(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, EOFError) as exc:
            log.warning("kept copy of UBX event file %s is damaged (%s); fetching it again", name, exc)
            return None

    def keep(self, name: str, raw: bytes) -> None:
        tmp = self._tmp()
        with tmp.open("wb") as fh:
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
                gz.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / "blobs" / f"{_key(name)}.json.gz")
