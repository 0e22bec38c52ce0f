"""Landing files: one folder per window, ``part-*.jsonl.gz`` plus ``manifest.json``.

A window's folder is a symlink to a versioned directory; a (re)download writes a fresh version
and swaps the link with an atomic rename, so a rerun replaces the window and a reader never sees
a half-written one. Parts are gzip with a zero mtime, so the same events give the same bytes and
the same sha256 on every download.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sms_response.errors import LandingError
from sms_response.events import UnparseableLine, count_records

MANIFEST = "manifest.json"
VERSIONS_DIR = ".versions"


@dataclass(frozen=True)
class PartInfo:
    name: str
    envelopes: int
    records: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    window_id: str
    window_start: str
    window_end: str
    filters: dict[str, list[str]]
    pages: int
    envelopes: int
    records: int
    bytes: int
    parts: list[PartInfo]
    sha256: str
    source: str
    downloaded_at: str
    http_bytes: int = 0
    retries: int = 0
    # True when every line is LandingWriter's ``json.dumps`` of a decoded JSON value (compact separators): no key
    # repeats within an object and no whitespace stands outside strings, so the importer's fast path need not check
    # for either. Manifests written otherwise (older versions, hand-made parts) leave it False: every check runs.
    compact_json: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        doc = json.loads(text)
        doc["parts"] = [PartInfo(**p) for p in doc["parts"]]
        return cls(**doc)


@dataclass
class _OpenPart:
    name: str
    path: Path
    raw: Any
    gz: gzip.GzipFile
    envelopes: int = 0
    records: int = 0


@dataclass
class LandingWriter:
    """Write one window's envelopes into a fresh version directory; ``commit`` publishes it."""

    root: Path
    window_id: str
    part_max_records: int = 50_000
    parts: list[PartInfo] = field(default_factory=list)
    _current: _OpenPart | None = None

    def __post_init__(self) -> None:
        self.version_dir = self.root / VERSIONS_DIR / f"{self.window_id}.{uuid.uuid4().hex[:12]}"
        self.version_dir.mkdir(parents=True)

    def _open(self) -> _OpenPart:
        name = f"part-{len(self.parts):05d}.jsonl.gz"
        path = self.version_dir / name
        raw = path.open("wb")
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
        return _OpenPart(name, path, raw, gz)

    def _close(self) -> None:
        cur = self._current
        if cur is None:
            return
        cur.gz.close()
        cur.raw.flush()
        os.fsync(cur.raw.fileno())
        cur.raw.close()
        data = cur.path.read_bytes()
        self.parts.append(PartInfo(cur.name, cur.envelopes, cur.records, len(data), hashlib.sha256(data).hexdigest()))
        self._current = None

    def write(self, envelope: object) -> int:
        """Append one envelope; returns the number of records it holds."""
        if self._current is None:
            self._current = self._open()
        n = count_records(envelope)
        line = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (the platform's JSON held a \ud800 escape): landed ASCII-escaped, so the line is valid
            # UTF-8 and the importer rejects that record alone.
            data = (json.dumps(envelope, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
        self._current.gz.write(data)
        self._current.envelopes += 1
        self._current.records += n
        if self._current.records >= self.part_max_records:
            self._close()
        return n

    def commit(self, manifest_fields: dict[str, Any]) -> Manifest:
        self._close()
        digest = hashlib.sha256("".join(p.sha256 for p in self.parts).encode()).hexdigest()
        manifest = Manifest(
            window_id=self.window_id,
            parts=self.parts,
            envelopes=sum(p.envelopes for p in self.parts),
            records=sum(p.records for p in self.parts),
            bytes=sum(p.bytes for p in self.parts),
            sha256=digest,
            compact_json=True,
            **manifest_fields,
        )
        (self.version_dir / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        link = self.root / self.window_id
        tmp_link = self.root / f".{self.window_id}.{uuid.uuid4().hex[:8]}.lnk"
        tmp_link.symlink_to(self.version_dir.relative_to(self.root))
        previous = link.resolve() if link.is_symlink() else None
        if link.exists() and not link.is_symlink():
            raise LandingError(f"{link} exists and is not a landing symlink; move it away")
        os.replace(tmp_link, link)  # atomic: readers see the old or the new version, never a mix
        if previous is not None and previous != self.version_dir.resolve():
            shutil.rmtree(previous, ignore_errors=True)
        return manifest

    def abort(self) -> None:
        """Drop the unpublished version. Closing the open part can fail (a full disk fails the gzip trailer's
        write); the file is closed and the version removed all the same, then the error is raised."""
        cur, self._current = self._current, None
        try:
            if cur is not None:
                try:
                    cur.gz.close()
                finally:
                    cur.raw.close()
        finally:
            shutil.rmtree(self.version_dir, ignore_errors=True)


def window_dir(root: Path, window_id: str) -> Path:
    return root / window_id


def read_manifest(root: Path, window_id: str) -> tuple[Path, Manifest]:
    d = window_dir(root, window_id)
    path = d / MANIFEST
    if not path.exists():
        raise LandingError(f"no landing files for window {window_id} under {root}: run download_events first")
    return d.resolve(), Manifest.from_json(path.read_text(encoding="utf-8"))


def verified_parts(directory: Path, manifest: Manifest) -> Iterator[tuple[PartInfo, bytes]]:
    """Yield each part's (compressed) bytes after checking them against the manifest's sha256."""
    for part in manifest.parts:
        path = directory / part.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LandingError(f"window {manifest.window_id}: cannot read {path}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != part.sha256:
            raise LandingError(
                f"window {manifest.window_id}: {part.name} does not match its manifest sha256; "
                "the landing files were modified — re-run download_events for this window"
            )
        yield part, data


def iter_envelopes(directory: Path, manifest: Manifest) -> Iterator[tuple[str, int, Any]]:
    """Yield (part name, line number, envelope), verifying each part against the manifest."""
    for part, data in verified_parts(directory, manifest):
        yield from part_envelopes(part.name, data)


def part_envelopes(name: str, data: bytes) -> Iterator[tuple[str, int, Any]]:
    """A part's envelopes; decompressed line by line, so a part is never held uncompressed."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        for lineno, raw in enumerate(lines):
            yield name, lineno, parse_line(raw.rstrip(b"\r\n"))


def parse_line(line: bytes | str) -> Any:
    try:
        return json.loads(line)
    except RecursionError:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        return UnparseableLine(text[:10_000], "nested too deeply")
    except ValueError as exc:
        # The downloader wrote valid JSON; a broken line here is corruption, but it still
        # counts as one record and is quarantined rather than lost.
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        return UnparseableLine(text, str(exc)[:120])
