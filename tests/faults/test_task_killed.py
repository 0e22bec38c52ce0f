"""The task process SIGKILLed in the middle of its step, then the step retried, as Airflow retries a task whose
worker died.

Each step runs in a task process of its own (``task_driver.py``) and is caught at a known point before the kill:
the download by the simulator's page gate after two pages (part of the window written, nothing published; the
retry removes the abandoned version), the import and the segment refresh waiting for a lock the test holds (rows
written, nothing committed), the send by the simulator's send gate while the platform holds a batch (the batch
marked ``sending``, its answer never read).
The retry gives the fault-free landing files and tables, every window reconciles, and each phone is texted once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_helpers import (
    FAULT_WINDOW,
    PAGE_SIZE,
    Reference,
    Task,
    assert_sent_exactly_once,
    backend_gone,
    blocked_pid,
    fingerprint_of,
    holds_row_locks,
    import_in_process,
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
from sms_response.landing import read_manifest, verified_parts
from sms_response.platform import SmsPlatformClient
from sms_simulator import SimulatorServer

pytestmark = [pytest.mark.faults, pytest.mark.once, pytest.mark.integration]


@pytest.fixture(scope="module")
def landing(fault_sim: SimulatorServer, fault_token: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("killed-landing")
    client = SmsPlatformClient(fault_sim.base_url, fault_token)
    download_window(client, FAULT_WINDOW, root, page_size=PAGE_SIZE)
    client.close()
    return root


@pytest.fixture
def gates(fault_sim: SimulatorServer) -> Iterator[SimulatorServer]:
    yield fault_sim
    fault_sim.page_gate.release()
    fault_sim.push.send_gate.release()


def count(url: str, schema: str, query: str) -> int:
    with utc_conn(url, schema) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def kill_while_blocked(url: str, schema: str, table: str, task: Task, written: str) -> None:
    """Hold ``table``, wait until ``task`` waits for it having written to ``written``, SIGKILL it, let go, and wait
    until its orphaned backend is gone (it rolls back when it finds its client dead)."""
    blocker = utc_conn(url, schema, autocommit=False)
    try:
        blocker.execute(f"LOCK TABLE {table} IN SHARE MODE")
        pid = wait_for(f"the task to wait for {table}", lambda: blocked_pid(url, schema, table) or not task.alive(),
                       timeout=90)
        assert task.alive(), task.stderr()
        assert holds_row_locks(url, schema, pid, written), f"the task had not written to {written} yet"
        task.kill()
    finally:
        blocker.rollback()
        blocker.close()
    assert task.proc.returncode == -9
    wait_for("the killed task's backend to end", lambda: backend_gone(url, pid), timeout=60)


@pytest.mark.scenario("faults", "download task SIGKILLed mid-download (2 pages written), then retried")
def test_a_download_killed_half_way_publishes_nothing_and_its_retry_gives_the_reference(
    gates: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str, tmp_path: Path,
) -> None:
    root = tmp_path / "landing"
    env = task_env(pg_url, fresh_schema, root, gates, fault_token)
    gates.page_gate.arm(2)
    task = Task("download", {"window": FAULT_WINDOW.to_dict()}, env, tmp_path / "logs")
    try:
        assert wait_for("the download to ask for page 3", lambda: gates.page_gate.wait_blocked(0.2)
                        or not task.alive(), timeout=90)
        assert task.alive(), task.stderr()
        versions = list((root / ".versions").iterdir())
        assert len(versions) == 1 and (versions[0] / "part-00000.jsonl.gz").exists()
        task.kill()
    finally:
        gates.page_gate.release()
    assert not (root / FAULT_WINDOW.id).exists(), "a killed download published its window"
    assert versions[0].exists()  # the dead task could not remove its half-written version

    retry = Task("download", {"window": FAULT_WINDOW.to_dict()}, env, tmp_path / "logs").wait().result()
    assert retry["sha256"] == reference.sha256 and retry["records"] == reference.records
    directory, manifest = read_manifest(root, FAULT_WINDOW.id)
    assert len(list(verified_parts(directory, manifest))) == len(manifest.parts)
    # The retry removed the abandoned version: only the published one is left.
    assert list((root / ".versions").iterdir()) == [directory]
    import_in_process(pg_url, fresh_schema, root, FAULT_WINDOW)
    assert fingerprint_of(pg_url, fresh_schema) == reference.imported
    assert not reconciles(pg_url, fresh_schema)


@pytest.mark.scenario("faults", "import task SIGKILLed mid-import (event rows written, not committed), then retried")
def test_an_import_killed_half_way_leaves_nothing_and_its_retry_gives_the_reference(
    fault_sim: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    landing: Path, tmp_path: Path,
) -> None:
    env = task_env(pg_url, fresh_schema, landing, fault_sim, fault_token)
    task = Task("import", {"window": FAULT_WINDOW.to_dict()}, env, tmp_path / "logs")
    kill_while_blocked(pg_url, fresh_schema, "mailings", task, "sms_sent")
    assert count(pg_url, fresh_schema, "SELECT count(*) FROM load_log") == 0
    assert count(pg_url, fresh_schema, "SELECT count(*) FROM sms_sent") == 0

    Task("import", {"window": FAULT_WINDOW.to_dict()}, env, tmp_path / "logs").wait().result()
    assert fingerprint_of(pg_url, fresh_schema) == reference.imported
    assert not reconciles(pg_url, fresh_schema)


@pytest.mark.scenario("faults", "segment refresh task SIGKILLed mid-refresh (run opened, members not written), "
                                "then retried")
def test_a_refresh_killed_half_way_shows_no_partial_segment_and_its_retry_gives_the_reference(
    fault_sim: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    landing: Path, tmp_path: Path,
) -> None:
    import_in_process(pg_url, fresh_schema, landing, FAULT_WINDOW)
    publish(pg_url, fresh_schema, FAULT_WINDOW)
    env = task_env(pg_url, fresh_schema, landing, fault_sim, fault_token)
    task = Task("refresh", {"mailings": reference.mailings}, env, tmp_path / "logs")
    kill_while_blocked(pg_url, fresh_schema, "segment_members", task, "segment_runs")
    assert count(pg_url, fresh_schema, "SELECT count(*) FROM segment_runs") == 0
    assert count(pg_url, fresh_schema, "SELECT count(*) FROM responders") == 0

    result = Task("refresh", {"mailings": reference.mailings}, env, tmp_path / "logs").wait().result()
    assert [r["mailing_name"] for r in result["runs"]] == reference.mailings
    assert fingerprint_of(pg_url, fresh_schema) == reference.segmented


@pytest.mark.scenario("faults", "wave send task SIGKILLed while the platform holds a batch, then retried")
def test_a_send_killed_mid_batch_resumes_and_texts_nobody_twice(
    gates: SimulatorServer, fault_token: str, pg_url: str, fresh_schema: str, tmp_path: Path,
) -> None:
    phones = known_phones(gates)[40:100]
    logical_date = datetime(2026, 11, 23, 13, tzinfo=UTC)
    mailing = prepare_wave(pg_url, fresh_schema, gates, fault_token, phones, wave_name="Killed",
                           logical_date=logical_date)
    env = task_env(pg_url, fresh_schema, tmp_path / "landing", gates, fault_token)
    args = {"logical_date": logical_date.isoformat(), "phase": "full"}
    gate = gates.push.send_gate
    gate.arm(23)  # two full batches of 10 go through; the third is held after 3 messages
    task = Task("send", args, env, tmp_path / "logs")
    try:
        assert wait_for("the platform to hold the third batch", lambda: gate.wait_blocked(0.2) or not task.alive(),
                        timeout=90)
        assert task.alive(), task.stderr()
        task.kill()
    finally:
        gate.release()
    assert gate.wait_batches_done(timeout=30)
    before = wave_statuses(pg_url, fresh_schema, mailing)
    assert sum(s == "sent" for s in before.values()) == 25 and sum(s == "sending" for s in before.values()) == 10
    assert sum(sends_per_phone(gates, mailing).values()) == 35  # the platform sent the batch the dead task sent

    Task("send", args, env, tmp_path / "logs").wait().result()
    assert_sent_exactly_once(pg_url, fresh_schema, gates, mailing, phones)
