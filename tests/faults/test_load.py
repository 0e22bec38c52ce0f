"""Load: a backfill of 24 hourly windows, 8 task processes at once, while a wave sends, on one PostgreSQL.

Eight task processes (one per worker slot) each download and import their share of the 24 windows, in an order
of their own (imports of one schema queue on the load lock; downloads and the rest run side by side); a ninth
runs the wave's full send into the same schema. The simulator holds the wave after 50 messages until half of the
windows are imported, so the rest of the wave goes out while the other half imports. Afterwards: no process
failed, PostgreSQL counted no deadlock, the tables equal importing the 24 windows one by one (nothing lost,
nothing doubled), every window reconciles, and the platform texted each phone at most once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fault_helpers import (
    PAGE_SIZE,
    START,
    WAVE_SOURCE,
    Task,
    fingerprint_of,
    import_in_process,
    new_schema,
    prepare_wave,
    reconciles,
    sends_per_phone,
    task_env,
    utc_conn,
    wait_for,
    wave_statuses,
)
from wave_fixtures import known_phones, seed_contacts, seed_segment

from sms_response.db import drop_schema
from sms_response.download import download_window
from sms_response.platform import SmsPlatformClient
from sms_response.window import Window
from sms_simulator import SimulatorServer

pytestmark = [pytest.mark.once, pytest.mark.integration]
WINDOWS = [Window(START + timedelta(hours=h), START + timedelta(hours=h + 1)) for h in range(24)]
WORKERS = 8


def wave_phones(sim: SimulatorServer) -> list[str]:
    return known_phones(sim)[100:300]


def seed_wave_source(url: str, schema: str, phones: list[str]) -> None:
    with utc_conn(url, schema) as conn:
        seed_segment(conn, WAVE_SOURCE, dict.fromkeys(phones, "non_responders"))
        seed_contacts(conn, phones)


@pytest.fixture(scope="module")
def one_by_one(pg_url: str, fault_sim: SimulatorServer, fault_token: str,
               tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The 24 windows downloaded and imported one by one, in order, beside the same seeded segment."""
    schema = new_schema(pg_url)
    landing = tmp_path_factory.mktemp("one-by-one")
    seed_wave_source(pg_url, schema, wave_phones(fault_sim))
    client = SmsPlatformClient(fault_sim.base_url, fault_token)
    for window in WINDOWS:
        download_window(client, window, landing, page_size=PAGE_SIZE)
        import_in_process(pg_url, schema, landing, window)
    client.close()
    yield fingerprint_of(pg_url, schema), mailing_rows(pg_url, schema)
    drop_schema(pg_url, schema)


def mailing_rows(url: str, schema: str, leave_out: str = "") -> list[tuple[Any, ...]]:
    with utc_conn(url, schema) as conn:
        return conn.execute("SELECT mailing_name, campaign_code, source, first_seen_at FROM mailings "
                            "WHERE mailing_name <> %s ORDER BY 1", (leave_out,)).fetchall()


def deadlocks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def imported_windows(url: str, schema: str) -> int:
    with utc_conn(url, schema) as conn:
        row = conn.execute("SELECT count(*) FROM load_log").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.scenario("load", "backfill of 24 windows, 8 task processes at once, while a wave sends: no deadlock, "
                              "no lost or doubled row, no double send")
def test_a_backfill_of_24_windows_8_at_once_beside_a_sending_wave(
    one_by_one: Any, fault_sim: SimulatorServer, fault_token: str, pg_url: str, fresh_schema: str, tmp_path: Path,
) -> None:
    phones = wave_phones(fault_sim)
    logical_date = datetime(2026, 11, 23, 14, tzinfo=UTC)
    mailing = prepare_wave(pg_url, fresh_schema, fault_sim, fault_token, phones, wave_name="Load",
                           logical_date=logical_date)
    env = task_env(pg_url, fresh_schema, tmp_path / "landing", fault_sim, fault_token)
    logs = tmp_path / "logs"
    # Each worker slot takes every 8th window; every other one walks its share backwards (out of order).
    shares = [WINDOWS[i::WORKERS][:: -1 if i % 2 else 1] for i in range(WORKERS)]
    gate = fault_sim.push.send_gate
    before = deadlocks(pg_url)
    gate.arm(50)
    tasks: list[Task] = []
    try:
        sender = Task("send", {"logical_date": logical_date.isoformat(), "phase": "full"}, env, logs)
        tasks = [Task("backfill", {"windows": [w.to_dict() for w in share]}, env, logs) for share in shares]
        assert wait_for("the platform to hold the wave after 50 messages",
                        lambda: gate.wait_blocked(0.2) or not sender.alive(), timeout=120), sender.stderr()

        def failed() -> list[Task]:
            return [t for t in tasks if t.proc.poll() not in (None, 0)]

        wait_for("half of the windows to be imported",
                 lambda: imported_windows(pg_url, fresh_schema) >= 12 or failed(), timeout=240)
        assert not failed(), failed()[0].stderr()[-3000:]
        assert imported_windows(pg_url, fresh_schema) < 24, "the backfill finished before the wave went on"
    finally:
        gate.release()
    outcomes = [t.wait(timeout=300) for t in tasks]
    sent = sender.wait(timeout=300)
    for outcome in [*outcomes, sent]:
        assert outcome.returncode == 0, outcome.stderr[-3000:]
        assert "deadlock detected" not in outcome.stderr
    assert deadlocks(pg_url) == before, "PostgreSQL detected a deadlock"

    # Nothing lost, nothing doubled: the same tables as the windows imported one by one (the wave's own mailing
    # row aside), and every window reconciles.
    want, want_mailings = one_by_one
    got = fingerprint_of(pg_url, fresh_schema)
    assert {k: v for k, v in got.items() if k != "mailings"} == {k: v for k, v in want.items() if k != "mailings"}
    assert mailing_rows(pg_url, fresh_schema, leave_out=mailing) == want_mailings
    assert len(got["load_log"]) == 24 and not reconciles(pg_url, fresh_schema)

    # No double send: the platform texted each phone of the wave at most once, those the wave says it sent; a
    # phone whose opt-out a window brought in meanwhile was skipped, never texted.
    statuses = wave_statuses(pg_url, fresh_schema, mailing)
    assert set(statuses) == set(phones)
    assert set(statuses.values()) <= {"sent", "skipped_opted_out"}, set(statuses.values())
    counts = sends_per_phone(fault_sim, mailing)
    assert set(counts.values()) == {1}
    assert set(counts) == {p for p, s in statuses.items() if s == "sent"}
