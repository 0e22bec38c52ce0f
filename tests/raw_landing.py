"""Landing windows written line by line, for tests of what no downloader writes (truncated JSON, blank lines,
invalid UTF-8): the layout ``LandingWriter`` makes (a version directory, ``manifest.json`` with each part's
sha256, the window's symlink), with each line's bytes written as they are instead of through ``json.dumps``."""

from __future__ import annotations

import gzip
import hashlib
import uuid
from pathlib import Path

from sms_response.events import count_records
from sms_response.landing import MANIFEST, VERSIONS_DIR, Manifest, PartInfo, parse_line
from sms_response.window import Window


def records_of(line: bytes) -> int:
    """How many records the downloader would have counted for this line (its manifest's unit)."""
    try:
        return count_records(parse_line(line))
    except Exception:  # a line even the parser cannot take (a known bug) is one record
        return 1


def land_lines(root: Path, window: Window, parts: list[list[bytes]]) -> Manifest:
    """Publish ``window`` under ``root`` with one part per list of lines (each written followed by a newline)."""
    version = root / VERSIONS_DIR / f"{window.id}.{uuid.uuid4().hex[:12]}"
    version.mkdir(parents=True)
    infos = []
    for index, lines in enumerate(parts):
        name = f"part-{index:05d}.jsonl.gz"
        data = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
        (version / name).write_bytes(data)
        infos.append(PartInfo(name, len(lines), sum(records_of(line) for line in lines), len(data),
                              hashlib.sha256(data).hexdigest()))
    manifest = Manifest(
        window_id=window.id, window_start=window.start.isoformat(), window_end=window.end.isoformat(), filters={},
        pages=1, envelopes=sum(p.envelopes for p in infos), records=sum(p.records for p in infos),
        bytes=sum(p.bytes for p in infos), parts=infos,
        sha256=hashlib.sha256("".join(p.sha256 for p in infos).encode()).hexdigest(), source="test (raw lines)",
        downloaded_at="2026-11-20T12:00:00+00:00")
    (version / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    link = root / window.id
    tmp = root / f".{window.id}.{uuid.uuid4().hex[:8]}.lnk"
    tmp.symlink_to(version.relative_to(root))
    tmp.replace(link)
    return manifest
