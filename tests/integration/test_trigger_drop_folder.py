"""The drop folder on real PostgreSQL: files become rows exactly once, bad files are rejected with a reason."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from trigger_fixtures import MAILING, T0, Db, connections, race, rows

from sms_response.trigger.drop_folder import ingest_drop_folder, write_trigger_file
from sms_response.trigger.request import TriggerRequest

pytestmark = pytest.mark.integration


def test_drop_folder_accepts_good_files_rejects_bad_ones_with_a_reason_and_ignores_replays(
    db: Db, tmp_path: Path
) -> None:
    good = write_trigger_file(tmp_path, TriggerRequest(mailing_names=(MAILING,), window_start=T0,
                                                       window_end=T0 + timedelta(hours=1)), "flowchart A")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "inject.json").write_text(json.dumps({"mailing_names": ["x'; DROP TABLE mailings;--"]}))
    (tmp_path / ".half-written.json.tmp").write_text("{")
    (tmp_path / "notes.txt").write_text("not a trigger")

    result = ingest_drop_folder(db, tmp_path)

    assert sorted(result.rejected) == ["broken.json", "inject.json"] and result.duplicates == []
    got = {r[2]: r for r in rows(db)}
    assert set(got) == {good.name, "broken.json", "inject.json"}
    assert got[good.name][3] == "pending" and got[good.name][0] == result.created[0]
    assert got["broken.json"][3] == "rejected" and "not valid JSON" in got["broken.json"][10]
    assert got["inject.json"][3] == "rejected" and "DROP TABLE" in got["inject.json"][10]
    assert "DROP TABLE mailings" in (tmp_path / "rejected" / "inject.json.reason").read_text()
    assert sorted(p.name for p in (tmp_path / "rejected").iterdir()) == [
        "broken.json", "broken.json.reason", "inject.json", "inject.json.reason"]
    assert [p.name for p in (tmp_path / "done").iterdir()] == [good.name]
    assert list((tmp_path / "processing").iterdir()) == []
    assert (tmp_path / ".half-written.json.tmp").exists() and (tmp_path / "notes.txt").exists()

    # The same file dropped again (a replayed trigger script) is recognised by its name: no new row.
    (tmp_path / good.name).write_bytes((tmp_path / "done" / good.name).read_bytes())
    again = ingest_drop_folder(db, tmp_path)
    assert again.created == [] and again.duplicates == [good.name] and len(rows(db)) == 3


def test_a_file_left_in_processing_by_a_dead_ingester_is_ingested_later(db: Db, tmp_path: Path) -> None:
    path = write_trigger_file(tmp_path, TriggerRequest(mailing_names=(MAILING,)))
    (tmp_path / "processing").mkdir()
    stuck = tmp_path / "processing" / path.name
    os.rename(path, stuck)
    old = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(stuck, (old, old))

    result = ingest_drop_folder(db, tmp_path, stale_after=timedelta(minutes=10))

    assert len(result.created) == 1 and [r[2] for r in rows(db)] == [path.name]
    assert (tmp_path / "done" / path.name).exists() and not stuck.exists()


@pytest.fixture
def two_conns(pg_url: str, schema: str) -> Iterator[list[Db]]:
    with connections(pg_url, schema, 2) as conns:
        yield conns


def test_two_ingesters_racing_on_50_files_give_50_rows(db: Db, two_conns: list[Db], tmp_path: Path) -> None:
    files = [write_trigger_file(tmp_path, TriggerRequest(mailing_names=(f"M_{i}",))) for i in range(50)]

    results = race(2, lambda i: ingest_drop_folder(two_conns[i], tmp_path))

    created = results[0].created + results[1].created
    assert len(created) == 50 and len(set(created)) == 50
    assert results[0].duplicates == results[1].duplicates == []
    with db.transaction():
        refs = [r[0] for r in db.execute("SELECT source_ref FROM flowchart_triggers").fetchall()]
    assert sorted(refs) == sorted(f.name for f in files)
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == sorted(f.name for f in files)
    assert list(tmp_path.glob("*.json")) == [] and list((tmp_path / "processing").iterdir()) == []
    print(f"ingested: {len(results[0].created)} by ingester 0, {len(results[1].created)} by ingester 1")

