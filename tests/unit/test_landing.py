from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sms_response.errors import LandingError
from sms_response.landing import LandingWriter, Manifest, iter_envelopes, read_manifest

FIELDS = {"window_start": "s", "window_end": "e", "filters": {}, "pages": 1, "source": "t", "downloaded_at": "now"}


def write(root: Path, envelopes: list[object], part_max: int = 2) -> None:
    w = LandingWriter(root, "W1", part_max)
    for e in envelopes:
        w.write(e)
    w.commit(dict(FIELDS))


def test_rerun_replaces_the_window_instead_of_appending(tmp_path: Path) -> None:
    write(tmp_path, [{"events": [1]}, {"events": [2]}, {"events": [3]}])
    _, first = read_manifest(tmp_path, "W1")
    assert first.records == 3 and len(first.parts) == 2
    write(tmp_path, [{"events": [9]}])
    d, second = read_manifest(tmp_path, "W1")
    assert second.records == 1
    assert [e for _, _, e in iter_envelopes(d, second)] == [{"events": [9]}]
    # only the live version remains on disk
    assert len(list((tmp_path / ".versions").iterdir())) == 1


def test_same_events_give_the_same_bytes_and_checksum(tmp_path: Path) -> None:
    envs: list[object] = [{"events": [i, i + 1]} for i in range(5)]
    write(tmp_path / "a", envs)
    write(tmp_path / "b", envs)
    assert read_manifest(tmp_path / "a", "W1")[1].sha256 == read_manifest(tmp_path / "b", "W1")[1].sha256


def test_records_count_events_not_envelopes(tmp_path: Path) -> None:
    write(tmp_path, [{"events": [1, 2, 3]}, "broken", {"events": []}], part_max=100)
    _, m = read_manifest(tmp_path, "W1")
    assert (m.envelopes, m.records) == (3, 5)


def test_tampered_part_is_detected(tmp_path: Path) -> None:
    write(tmp_path, [{"events": [1]}])
    d, m = read_manifest(tmp_path, "W1")
    (d / m.parts[0].name).write_bytes(gzip.compress(b'{"events":[666]}\n'))
    with pytest.raises(LandingError, match="does not match its manifest"):
        list(iter_envelopes(d, m))


def test_missing_window_says_to_download_first(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match="run download_events first"):
        read_manifest(tmp_path, "nope")


def test_aborted_download_leaves_previous_version_intact(tmp_path: Path) -> None:
    write(tmp_path, [{"events": [1]}])
    w = LandingWriter(tmp_path, "W1")
    w.write({"events": [2]})
    w.abort()
    d, m = read_manifest(tmp_path, "W1")
    assert [e for _, _, e in iter_envelopes(d, m)] == [{"events": [1]}]


def test_abort_on_a_full_disk_closes_the_part_and_removes_the_version_then_says_why(tmp_path: Path) -> None:
    """The open part's gzip trailer cannot be written (here: the part is on /dev/full, a real ENOSPC): abort still
    closes the file and removes the unpublished version, and raises the disk's error."""
    from sms_response import landing

    w = LandingWriter(tmp_path, "W1")
    w.write({"events": [1]})
    assert w._current is not None
    w._current.gz.close()
    w._current.raw.close()
    raw = open("/dev/full", "wb")  # closed by abort, checked below
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    gz.write(b"x" * 100_000)  # held in zlib's buffers until close
    w._current = landing._OpenPart("part-00000.jsonl.gz", w.version_dir / "part-00000.jsonl.gz", raw, gz)
    with pytest.raises(OSError, match="No space left on device"):
        w.abort()
    assert raw.closed and w._current is None
    assert not w.version_dir.exists()


def test_the_downloader_s_manifest_vouches_for_compact_json_lines_and_others_do_not(tmp_path: Path) -> None:
    """``compact_json`` lets the importer's fast path skip its repeated-key checks: only LandingWriter's manifest
    may say so (each line is json.dumps of a decoded value: no key twice, no whitespace outside strings); a manifest
    without the field (an older download, hand-made parts) reads as False, so every check runs."""
    write(tmp_path, [{"events": [{"code": "sentSMS"}], "identifiers": []}, {"a": 1, "b": {"c": [1.5, None]}}])
    directory, manifest = read_manifest(tmp_path, "W1")
    assert manifest.compact_json is True
    for part in manifest.parts:
        for line in gzip.decompress((directory / part.name).read_bytes()).splitlines():
            assert json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")).encode() == line
    doc = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    del doc["compact_json"]
    assert Manifest.from_json(json.dumps(doc)).compact_json is False
