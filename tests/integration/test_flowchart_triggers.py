"""Flowchart triggers on real PostgreSQL: rows, drop files, the CLI, exactly-once claims and ingestion, the trigger."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from sms_response.db import connect
from sms_response.trigger import (
    TriggerRequest,
    claim_pending,
    claimed_by,
    confs_for,
    ingest_drop_folder,
    pending_count,
    record_outcome,
    record_start_failed,
    record_started,
    started_triggers,
    write_trigger_file,
    write_trigger_row,
)

pytestmark = pytest.mark.integration
Db = psycopg.Connection[TupleRow]
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
MAILING = "SPRING26_Wave1_Offer_20261120090000"


def rows(db: Db) -> list[tuple[Any, ...]]:
    with db.transaction():
        return db.execute(
            "SELECT trigger_id, source, source_ref, status, mailing_names, window_start, window_end, run_tracking, "
            "run_wave, wave_conf, message FROM flowchart_triggers ORDER BY trigger_id").fetchall()


def cli(args: list[str], pg_url: str, schema: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SMS_RT_DATABASE_URL=pg_url, SMS_RT_SCHEMA=schema)
    return subprocess.run([sys.executable, "-m", "sms_response.trigger", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in n threads released together; re-raise the first error."""
    barrier, results, errors = threading.Barrier(n), [None] * n, []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


# --- rows, files and the CLI ------------------------------------------------------------------------


def test_a_written_row_is_claimed_once_with_the_confs_of_its_runs(db: Db) -> None:
    req = TriggerRequest(mailing_names=(MAILING,), window_start=T0, window_end=T0 + timedelta(hours=3),
                         wave_conf={"campaign_code": "SPRING26", "segment": "responders"})
    tid = write_trigger_row(db, req, "flowchart SPRING26")
    assert pending_count(db) == 1

    [claimed] = claim_pending(db, "run-a")
    assert claimed.trigger_id == tid and claimed.request == req and claimed.requested_by == "flowchart SPRING26"
    assert claim_pending(db, "run-b") == []
    assert pending_count(db) == 0
    assert [c.trigger_id for c in claimed_by(db, "run-a")] == [tid] and claimed_by(db, "run-b") == []
    assert [(c.dag_id, c.run_id) for c in confs_for(claimed)] == [
        ("sms_response_tracking", f"flowchart__{tid}"), ("sms_campaign_wave", f"flowchart__{tid}")]


def test_started_then_outcomes_move_the_status(db: Db) -> None:
    ids = [write_trigger_row(db, TriggerRequest(mailing_names=(MAILING,)), "t") for _ in range(3)]
    claim_pending(db, "run-a")
    assert record_started(db, ids[0], {"sms_response_tracking": f"flowchart__{ids[0]}"})
    assert record_started(db, ids[1], {"sms_response_tracking": f"flowchart__{ids[1]}"},
                          not_started=["sms_campaign_wave"])
    assert record_start_failed(db, ids[2], "no run could be started (sms_response_tracking)")
    assert [t for t, _ in started_triggers(db)] == ids[:2]

    assert record_outcome(db, ids[0], {"sms_response_tracking": "success"}) == "succeeded"
    assert record_outcome(db, ids[1], {"sms_response_tracking": "success"}) == "failed"  # the wave never started
    assert record_outcome(db, ids[0], {"sms_response_tracking": "failed"}) is None  # recorded once
    assert started_triggers(db) == []
    with db.transaction():
        got = db.execute("SELECT status, dag_run_ids, run_states, message FROM flowchart_triggers "
                         "ORDER BY trigger_id").fetchall()
    assert got[0] == ("succeeded", {"sms_response_tracking": f"flowchart__{ids[0]}"},
                      {"sms_response_tracking": "success"}, None)
    assert got[1][0] == "failed" and got[1][2] == {"sms_campaign_wave": "not_started",
                                                   "sms_response_tracking": "success"}
    assert got[2][0] == "failed" and "no run could be started" in got[2][3]


def test_cli_writes_exactly_one_row(pg_url: str, schema: str, db: Db, tmp_path: Path) -> None:
    wave = tmp_path / "wave.json"
    wave.write_text(json.dumps({"campaign_code": "SPRING26", "source_mailing": MAILING, "segment": "responders"}))
    out = cli(["--mailing", MAILING, "--mailing", "SPRING26_Wave1_Alt_20261120090000",
               "--window-start", "2026-11-20T10:00:00+01:00", "--window-end", "2026-11-20T12:00:00Z",
               "--wave-conf", f"@{wave}", "--requested-by", "flowchart SPRING26/Wave1"], pg_url, schema)
    assert out.returncode == 0, out.stderr
    [row] = rows(db)
    assert out.stdout.strip() == str(row[0])
    assert row[1:10] == ("table", None, "pending", [MAILING, "SPRING26_Wave1_Alt_20261120090000"], T0,
                         T0 + timedelta(hours=3), True, True,
                         {"campaign_code": "SPRING26", "source_mailing": MAILING, "segment": "responders"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mailing", "x'; DROP TABLE mailings;--"], "mailing name \"x'; DROP TABLE mailings;--\""),
        (["--mailing", MAILING, "--window-start", "2026-11-20T12:00:00Z", "--window-end", "2026-11-20T09:00:00Z"],
         "is not after window_start"),
        (["--window-start", "2026-11-20T09:00:00", "--window-end", "2026-11-20T12:00:00"], "has no time zone"),
        (["--mailing", MAILING, "--no-track"], "nothing to run"),
        (["--no-track", "--wave-conf", "[1, 2]"], "wave conf must be a JSON object"),
        (["--wave-conf", "{not json"], "--wave-conf is not valid JSON"),
        (["--to", "ftp"], "invalid choice"),
    ],
)
def test_invalid_cli_input_exits_2_with_one_line_and_writes_nothing(
    pg_url: str, schema: str, db: Db, tmp_path: Path, args: list[str], message: str
) -> None:
    out = cli([*args, "--drop-dir", str(tmp_path)], pg_url, schema)
    assert out.returncode == 2
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert rows(db) == [] and list(tmp_path.iterdir()) == []


def test_cli_to_file_drops_a_file_the_ingester_turns_into_one_row(
    pg_url: str, schema: str, db: Db, tmp_path: Path
) -> None:
    out = cli(["--mailing", MAILING, "--to", "file", "--drop-dir", str(tmp_path)], pg_url, schema)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.parent == tmp_path and path.suffix == ".json" and path.exists()
    result = ingest_drop_folder(db, tmp_path)
    [row] = rows(db)
    assert result.created == [row[0]] and row[1:5] == ("file", path.name, "pending", [MAILING])
    assert (tmp_path / "done" / path.name).exists() and not path.exists()


# --- the drop folder --------------------------------------------------------------------------------


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


# --- exactly once under concurrency -------------------------------------------------------------------


@pytest.fixture
def two_conns(pg_url: str, schema: str) -> Iterator[list[Db]]:
    conns = [connect(pg_url, schema), connect(pg_url, schema)]
    yield conns
    for c in conns:
        c.close()


def test_two_claimers_racing_over_200_rows_claim_each_exactly_once(db: Db, two_conns: list[Db]) -> None:
    with db.transaction(), db.cursor() as cur:
        cur.executemany("INSERT INTO flowchart_triggers (mailing_names) VALUES (%s)", [([MAILING],)] * 200)
    with db.transaction():
        all_ids = [r[0] for r in db.execute("SELECT trigger_id FROM flowchart_triggers").fetchall()]

    def claim_all(i: int) -> list[int]:
        got: list[int] = []
        while batch := claim_pending(two_conns[i], f"claimer-{i}", limit=7):
            got += [t.trigger_id for t in batch]
        return got

    a, b = race(2, claim_all)

    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(all_ids) and len(a) + len(b) == 200
    with db.transaction():
        owners = dict(db.execute("SELECT trigger_id, claimed_by FROM flowchart_triggers").fetchall())
    assert all(owners[t] == "claimer-0" for t in a) and all(owners[t] == "claimer-1" for t in b)
    assert pending_count(db) == 0
    print(f"claims: {len(a)} by claimer-0, {len(b)} by claimer-1")


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


def test_a_row_written_by_hand_with_a_bad_name_is_rejected_at_claim(db: Db) -> None:
    with db.transaction():
        db.execute("INSERT INTO flowchart_triggers (mailing_names) VALUES (%s), (%s)",
                   (["x'; DROP TABLE mailings;--"], [MAILING]))
    claimed = claim_pending(db, "run-a")
    assert [c.request.mailing_names for c in claimed] == [(MAILING,)]
    bad = rows(db)[0]
    assert bad[3] == "rejected" and "DROP TABLE mailings" in bad[10]


def test_a_stale_claim_is_taken_over(db: Db) -> None:
    tid = write_trigger_row(db, TriggerRequest(mailing_names=(MAILING,)), "t")
    claim_pending(db, "dead-run")
    assert claim_pending(db, "next-run") == []
    with db.transaction():
        db.execute("UPDATE flowchart_triggers SET claimed_at = now() - interval '2 hours'")
    [again] = claim_pending(db, "next-run", reclaim_after=timedelta(hours=1))
    assert again.trigger_id == tid
    assert rows(db)[0][10] == "reclaimed from dead-run"


def test_database_refuses_rows_that_make_no_sense(db: Db) -> None:
    for values in ("run_tracking => false", "window_start => now()", "run_wave => true"):
        col, val = values.split(" => ")
        with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
            db.execute(f"INSERT INTO flowchart_triggers ({col}) VALUES ({val})")
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        db.execute("INSERT INTO flowchart_triggers (window_start, window_end) VALUES (now(), now() - interval '1 h')")


# --- the trigger (what the triggerer runs) ------------------------------------------------------------


@pytest.fixture
def conn_env(monkeypatch: pytest.MonkeyPatch, pg_url: str) -> str:
    """An Airflow connection (from the environment, as a deployment might have it) with a password."""
    parts = conninfo_to_dict(pg_url)
    monkeypatch.setenv("AIRFLOW_CONN_FLOWCHART_TEST_DB", json.dumps({
        "conn_type": "postgres", "host": parts.get("host"), "port": int(parts.get("port") or 5432),
        "schema": parts.get("dbname"), "login": parts.get("user"), "password": "pw-not-in-kwargs",
    }))
    monkeypatch.delenv("SMS_RT_DATABASE_URL", raising=False)
    return "flowchart_test_db"


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_trigger_fires_when_a_row_becomes_pending_and_keeps_secrets_out_of_its_kwargs(
    conn_env: str, schema: str, db: Db, tmp_path: Path
) -> None:
    from sms_rt_airflow.flowchart import FlowchartTrigger

    trigger = FlowchartTrigger(conn_id=conn_env, schema=schema, drop_dir=str(tmp_path), poll_interval=0.05,
                               timeout=60)
    classpath, kwargs = trigger.serialize()
    assert classpath == "sms_rt_airflow.flowchart.FlowchartTrigger"
    assert "pw-not-in-kwargs" not in json.dumps(kwargs) and set(kwargs) == {
        "conn_id", "schema", "drop_dir", "poll_interval", "timeout"}
    rebuilt = FlowchartTrigger(**kwargs)

    async def scenario() -> Any:
        events = rebuilt.run()
        first = asyncio.ensure_future(anext(events))
        await until(lambda: rebuilt.polls >= 2)  # it has looked and found nothing
        assert not first.done()
        await asyncio.to_thread(write_trigger_row, db, TriggerRequest(mailing_names=(MAILING,)), "t")
        event = await asyncio.wait_for(first, timeout=20)
        await events.aclose()
        return event

    event = asyncio.run(scenario())
    assert event.payload["status"] == "found" and event.payload["pending"] == 1


def test_trigger_fires_on_a_drop_file(conn_env: str, schema: str, tmp_path: Path) -> None:
    from sms_rt_airflow.flowchart import FlowchartTrigger

    trigger = FlowchartTrigger(conn_id=conn_env, schema=schema, drop_dir=str(tmp_path), poll_interval=0.05,
                               timeout=60)

    async def scenario() -> Any:
        first = asyncio.ensure_future(anext(trigger.run()))
        await until(lambda: trigger.polls >= 2)
        await asyncio.to_thread(write_trigger_file, tmp_path, TriggerRequest(mailing_names=(MAILING,)))
        return await asyncio.wait_for(first, timeout=20)

    event = asyncio.run(scenario())
    assert event.payload["status"] == "found" and event.payload["files"] is True


def test_trigger_ends_idle_when_nothing_comes(
    monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str, tmp_path: Path
) -> None:
    from sms_rt_airflow.flowchart import FlowchartTrigger

    monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)  # no Airflow connection: the hook's fallback
    trigger = FlowchartTrigger(conn_id="no_such_conn", schema=schema, drop_dir=str(tmp_path / "none"),
                               poll_interval=0.05, timeout=0.3)

    async def first_event() -> Any:
        return await asyncio.wait_for(anext(trigger.run()), timeout=20)

    event = asyncio.run(first_event())
    assert event.payload["status"] == "idle" and event.payload["last_error"] is None and trigger.polls >= 2
