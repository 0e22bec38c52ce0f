"""The response database stopped under a task in the middle of its work, then started again and the task retried.

Each test runs the task in a process of its own against a PostgreSQL server of this module (an embedded server
on a pgdata of the test's), holds a lock the task needs at a known point of its transaction (the import: after
its event rows are written, before the mailings; the refresh: after its segment run is opened, before the
members), waits until ``pg_locks`` shows the task waiting there, and stops the server. The send is caught by
the simulator's send gate while the platform holds its batch. After the restart nothing of the first attempt is
visible, its error names the lost connection, and the retry gives the fault-free tables with nobody texted twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fault_helpers import (
    FAULT_WINDOW,
    PAGE_SIZE,
    DedicatedPostgres,
    Reference,
    Task,
    assert_sent_exactly_once,
    blocked_pid,
    fingerprint_of,
    holds_row_locks,
    import_in_process,
    new_schema,
    prepare_wave,
    publish,
    reconciles,
    sends_per_phone,
    task_env,
    utc_conn,
    wait_for,
    wave_statuses,
)
from wave_fixtures import known_phones

from sms_response.download import download_window
from sms_response.platform import SmsPlatformClient
from sms_simulator import SimulatorServer

pytestmark = [pytest.mark.faults, pytest.mark.once, pytest.mark.integration]
LOST = "lost the connection to the response database during "


@pytest.fixture(scope="module")
def landing(fault_sim: SimulatorServer, fault_token: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fault window's landing files, downloaded without faults."""
    root = tmp_path_factory.mktemp("restart-landing")
    client = SmsPlatformClient(fault_sim.base_url, fault_token)
    download_window(client, FAULT_WINDOW, root, page_size=PAGE_SIZE)
    client.close()
    return root


@pytest.fixture
def stoppable(dedicated_pg: DedicatedPostgres) -> Iterator[DedicatedPostgres]:
    yield dedicated_pg
    if not dedicated_pg.accepting():
        dedicated_pg.start()


def lock(url: str, schema: str, table: str) -> psycopg.Connection[tuple[object, ...]]:
    """A transaction holding ``table`` in SHARE mode: readers pass, the task's write waits (the blocker dies with
    the server)."""
    conn = utc_conn(url, schema, autocommit=False)
    conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
    return conn


def count(url: str, schema: str, query: str) -> int:
    with utc_conn(url, schema) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def assert_names_the_lost_connection(error: str, during: str) -> None:
    assert error.startswith("FAILED DatabaseConnectionLost: " + LOST + during), error
    # ... and the server's own words.
    assert "terminating connection" in error or "server closed the connection" in error, error


@pytest.mark.scenario("faults", "response database stopped and restarted in the middle of an import")
def test_database_restart_mid_import_then_retry_imports_the_window_once(
    stoppable: DedicatedPostgres, reference: Reference, landing: Path, fault_sim: SimulatorServer, fault_token: str,
    tmp_path: Path,
) -> None:
    url = stoppable.url
    schema = new_schema(url)
    env = task_env(url, schema, landing, fault_sim, fault_token)
    blocker = lock(url, schema, "mailings")
    task = Task("import", {"window": FAULT_WINDOW.to_dict()}, env, tmp_path / "logs")
    try:
        pid = wait_for("the import to wait for the mailings table", lambda: blocked_pid(url, schema, "mailings")
                       or not task.alive(), timeout=90)
        assert task.alive(), task.stderr()
        assert holds_row_locks(url, schema, pid, "sms_sent"), "the import was not past its event rows"
        stoppable.stop("fast")
        first = task.wait(timeout=60)
    finally:
        blocker.close()
        if task.alive():
            task.kill()
    assert first.returncode == 1
    assert_names_the_lost_connection(first.error, f"the import of window {FAULT_WINDOW.id}")
    stoppable.start()
    assert count(url, schema, "SELECT count(*) FROM load_log") == 0
    assert count(url, schema, "SELECT count(*) FROM sms_sent") == 0

    retry = Task("import", {"window": FAULT_WINDOW.to_dict()}, env, tmp_path / "logs").wait(timeout=120)
    assert retry.result()["downloaded"] == reference.records
    assert fingerprint_of(url, schema) == reference.imported
    assert not reconciles(url, schema)


@pytest.mark.scenario("faults", "response database crashed (immediate stop) and restarted in the middle of a "
                                "segment refresh")
def test_database_crash_mid_segment_refresh_then_retry_gives_the_segments(
    stoppable: DedicatedPostgres, reference: Reference, landing: Path, fault_sim: SimulatorServer, fault_token: str,
    tmp_path: Path,
) -> None:
    url = stoppable.url
    schema = new_schema(url)
    import_in_process(url, schema, landing, FAULT_WINDOW)
    publish(url, schema, FAULT_WINDOW)
    env = task_env(url, schema, landing, fault_sim, fault_token)
    blocker = lock(url, schema, "segment_members")
    task = Task("refresh", {"mailings": reference.mailings}, env, tmp_path / "logs")
    try:
        pid = wait_for("the refresh to wait for segment_members",
                       lambda: blocked_pid(url, schema, "segment_members") or not task.alive(), timeout=90)
        assert task.alive(), task.stderr()
        assert holds_row_locks(url, schema, pid, "segment_runs"), "the refresh had not opened its run"
        stoppable.stop("immediate")
        first = task.wait(timeout=60)
    finally:
        blocker.close()
        if task.alive():
            task.kill()
    assert first.returncode == 1
    assert_names_the_lost_connection(first.error, "the segment refresh")
    stoppable.start()
    # Crash recovery kept nothing of the refresh: no run, no members, the views empty.
    assert count(url, schema, "SELECT count(*) FROM segment_runs") == 0
    assert count(url, schema, "SELECT count(*) FROM responders") == 0

    retry = Task("refresh", {"mailings": reference.mailings}, env, tmp_path / "logs").wait(timeout=120)
    assert [r["mailing_name"] for r in retry.result()["runs"]] == reference.mailings
    assert fingerprint_of(url, schema) == reference.segmented


@pytest.mark.scenario("faults", "response database stopped and restarted in the middle of a wave send")
def test_database_restart_mid_send_then_retry_texts_nobody_twice(
    stoppable: DedicatedPostgres, fault_sim: SimulatorServer, fault_token: str, tmp_path: Path,
) -> None:
    url = stoppable.url
    schema = new_schema(url)
    phones = known_phones(fault_sim)[:40]
    logical_date = datetime(2026, 11, 23, 12, tzinfo=UTC)
    mailing = prepare_wave(url, schema, fault_sim, fault_token, phones, wave_name="Db Restart",
                           logical_date=logical_date)
    env = task_env(url, schema, tmp_path / "landing", fault_sim, fault_token)
    args = {"logical_date": logical_date.isoformat(), "phase": "full"}
    gate = fault_sim.push.send_gate
    gate.arm(13)  # the full phase's first batch of 10 goes through, the second is held after 3 messages
    task = Task("send", args, env, tmp_path / "logs")
    try:
        assert wait_for("the platform to hold the second batch", lambda: gate.wait_blocked(0.2)
                        or not task.alive(), timeout=90)
        assert task.alive(), task.stderr()
        stoppable.stop("fast")
    finally:
        gate.release()  # the platform finishes the batch; the task then finds its database gone
    first = task.wait(timeout=60)
    assert first.returncode == 1
    assert_names_the_lost_connection(first.error, "the wave's full send")
    assert gate.wait_batches_done(timeout=30)
    stoppable.start()
    before = wave_statuses(url, schema, mailing)
    assert sum(s == "sent" for s in before.values()) == 15 and sum(s == "sending" for s in before.values()) == 10
    assert sum(sends_per_phone(fault_sim, mailing).values()) == 25  # the batch in doubt was sent by the platform

    Task("send", args, env, tmp_path / "logs").wait(timeout=120).result()
    assert_sent_exactly_once(url, schema, fault_sim, mailing, phones)
