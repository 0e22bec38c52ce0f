"""The event API misbehaving during ``download_events``: after the client's retries the landing files, then the
imported tables, equal a fault-free run's; when the retries run out, the error names the status and the page and
no part of the window is published.

Each download and import runs as a task of its own (``task_driver.py``: ``tracking_tasks.download`` / ``import_``
with a worker's environment). For the downloads that give up, the page gate holds the download after two pages
while the fault is switched on, so the failure lands on page 3 of a half-written window.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_helpers import (
    FAULT_WINDOW,
    PAGE_SIZE,
    Reference,
    Task,
    fingerprint_of,
    reconciles,
    task_env,
    utc_conn,
    wait_for,
)

from sms_response.landing import read_manifest
from sms_response.report import LOAD_LOG_STABLE
from sms_simulator import FaultConfig, SimulatorServer

pytestmark = [pytest.mark.faults, pytest.mark.once, pytest.mark.integration]
SCENARIO = "faults"


@pytest.fixture
def faulty(fault_sim: SimulatorServer) -> Iterator[SimulatorServer]:
    """The simulator with its fault counters reset (the same page sees the same faults in every run); faults off
    and the page gate released afterwards, whatever happened."""
    fault_sim.runtime.decider.reset()
    yield fault_sim
    fault_sim.set_faults(FaultConfig())
    fault_sim.page_gate.release()


def run_window(env: dict[str, str], logs: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """download_events then import_events of the fault window, each as a task of its own; the download's log."""
    download = Task("download", {"window": FAULT_WINDOW.to_dict()}, env, logs).wait()
    downloaded = download.result()
    imported = Task("import", {"window": FAULT_WINDOW.to_dict()}, env, logs).wait().result()
    return downloaded, imported, download.stdout + download.stderr


def faults_seen(sim: SimulatorServer, before: dict[str, Any]) -> dict[str, int]:
    after = sim.stats()["faults"]
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def recovered(
    sim: SimulatorServer, pg_url: str, schema: str, tmp_path: Path, faults: FaultConfig, token: str, **extra: Any,
) -> tuple[dict[str, int], dict[str, Any], str]:
    """Download and import the fault window with ``faults`` on: the faults the simulator served, the tasks' results
    and the download's log."""
    env = task_env(pg_url, schema, tmp_path / "landing", sim, token, **extra)
    before = sim.stats()["faults"]
    sim.set_faults(faults)
    try:
        downloaded, imported, log = run_window(env, tmp_path / "logs")
    finally:
        sim.set_faults(FaultConfig())
    seen = faults_seen(sim, before)
    assert not reconciles(pg_url, schema)
    return seen, {"downloaded": downloaded, "imported": imported}, log


def assert_equals_reference(reference: Reference, pg_url: str, schema: str, run: dict[str, Any]) -> None:
    assert run["downloaded"]["sha256"] == reference.sha256, "the landing files differ from a fault-free download"
    assert run["downloaded"]["records"] == reference.records
    assert fingerprint_of(pg_url, schema) == reference.imported


@pytest.mark.scenario(SCENARIO, "event API 429 storm during download (every page twice, Retry-After honoured)")
def test_a_429_storm_is_waited_out_as_the_platform_asks(
    faulty: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    tmp_path: Path,
) -> None:
    seen, run, log = recovered(faulty, pg_url, fresh_schema, tmp_path,
                               FaultConfig(rate_429=1.0, retry_after=1, max_faults_per_page=2), fault_token)
    pages = run["downloaded"]["pages"]
    assert seen == {"429": 2 * pages}
    # Each 429 was waited out for its Retry-After (1 s), not the client's own backoff.
    assert log.count("(HTTP 429 Too Many Requests (Retry-After: 1)); retrying in 1.0s") == 2 * pages, log[-3000:]
    assert_equals_reference(reference, pg_url, fresh_schema, run)


@pytest.mark.scenario(SCENARIO, "event API 5xx bursts during download (500/502/503, up to 3 in a row per page)")
def test_5xx_bursts_are_retried_with_backoff(
    faulty: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    tmp_path: Path,
) -> None:
    seen, run, _ = recovered(faulty, pg_url, fresh_schema, tmp_path,
                             FaultConfig(rate_5xx=0.6, max_faults_per_page=3, fault_seed=0), fault_token)
    assert seen == {"5xx": 3}  # this seed: a page failing twice in a row, and another once
    assert_equals_reference(reference, pg_url, fresh_schema, run)


@pytest.mark.scenario(SCENARIO, "event API answers slower than the client's read timeout during download")
def test_answers_beyond_the_read_timeout_are_retried(
    faulty: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    tmp_path: Path,
) -> None:
    seen, run, _ = recovered(faulty, pg_url, fresh_schema, tmp_path,
                             FaultConfig(rate_slow=0.5, slow_seconds=2.0, fault_seed=3), fault_token, timeout_read=0.5)
    assert seen == {"slow": 2}
    assert_equals_reference(reference, pg_url, fresh_schema, run)


@pytest.mark.scenario(SCENARIO, "event API resets the TCP connection (RST) before answering, during download")
def test_connection_resets_are_retried(
    faulty: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    tmp_path: Path,
) -> None:
    seen, run, _ = recovered(faulty, pg_url, fresh_schema, tmp_path,
                             FaultConfig(rate_reset=0.6, max_faults_per_page=3, fault_seed=4), fault_token)
    assert seen == {"reset": 3}
    assert_equals_reference(reference, pg_url, fresh_schema, run)


@pytest.mark.scenario(SCENARIO, "event API cuts pages off mid-body (dropped connection or truncated JSON)")
def test_cut_pages_are_fetched_again(
    faulty: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    tmp_path: Path,
) -> None:
    seen, run, _ = recovered(faulty, pg_url, fresh_schema, tmp_path,
                             FaultConfig(rate_cut=0.6, max_faults_per_page=3, fault_seed=7), fault_token)
    assert seen == {"cut": 3}
    assert_equals_reference(reference, pg_url, fresh_schema, run)


@pytest.mark.scenario(SCENARIO, "event API delivers pages twice (cursor not advancing): duplicates counted, "
                                "tables unchanged")
def test_duplicated_pages_land_as_duplicates_and_change_no_table(
    faulty: SimulatorServer, fault_token: str, reference: Reference, pg_url: str, fresh_schema: str,
    tmp_path: Path,
) -> None:
    seen, run, _ = recovered(faulty, pg_url, fresh_schema, tmp_path, FaultConfig(rate_dup=1.0, max_faults_per_page=1),
                             fault_token)
    pages = run["downloaded"]["pages"]
    # Every page after the first is delivered twice (the first has no cursor to repeat).
    ref_pages = -(-reference.envelopes // PAGE_SIZE)
    assert seen == {"dup": ref_pages - 1} and pages == 2 * ref_pages - 1
    extra = run["downloaded"]["records"] - reference.records
    assert extra > 0
    got, want = fingerprint_of(pg_url, fresh_schema), reference.imported
    # The events, consent, mailings and conflicts are exactly the fault-free ones ...
    for table in ("sms_sent", "sms_interactions", "sms_consent", "event_index", "mailings", "event_conflicts"):
        assert got.get(table) == want.get(table), table
    # ... the extra copies are counted as duplicates (a malformed record delivered twice is rejected twice, at
    # its two positions), so the window imports the same rows and still reconciles.
    ref_log = dict(zip(LOAD_LOG_STABLE, want["load_log"][0], strict=True))
    log = dict(zip(LOAD_LOG_STABLE, got["load_log"][0], strict=True))
    assert int(log["downloaded"]) == int(ref_log["downloaded"]) + extra
    assert log["imported"] == ref_log["imported"] == str(run["imported"]["imported"])
    assert (int(log["duplicates"]) - int(ref_log["duplicates"])) + (int(log["rejected"]) - int(ref_log["rejected"])) \
        == extra
    with utc_conn(pg_url, fresh_schema) as conn:
        raws = {r[0] for r in conn.execute("SELECT raw FROM event_rejects")}
    with utc_conn(pg_url, reference.schema) as conn:
        ref_raws = {r[0] for r in conn.execute("SELECT raw FROM event_rejects")}
    assert raws == ref_raws and raws, "the same malformed records are quarantined"


EXHAUSTED = [
    pytest.param(FaultConfig(rate_429=1.0, retry_after=1, max_faults_per_page=100), {}, "HTTP 429",
                 marks=pytest.mark.scenario(SCENARIO, "event API 429 past the retries: error names status and page, "
                                                      "nothing published"), id="429"),
    pytest.param(FaultConfig(rate_5xx=1.0, max_faults_per_page=100), {}, "HTTP 50",
                 marks=pytest.mark.scenario(SCENARIO, "event API 5xx past the retries: error names status and page, "
                                                      "nothing published"), id="5xx"),
    pytest.param(FaultConfig(rate_slow=1.0, slow_seconds=2.0), {"timeout_read": 0.5}, "read timeout of 0.5 s",
                 marks=pytest.mark.scenario(SCENARIO, "event API slower than the read timeout past the retries: "
                                                      "error says so, nothing published"), id="timeout"),
    pytest.param(FaultConfig(rate_reset=1.0, max_faults_per_page=100), {}, "reset the connection",
                 marks=pytest.mark.scenario(SCENARIO, "event API resetting connections past the retries: error says "
                                                      "so, nothing published"), id="reset"),
]


@pytest.mark.parametrize(("faults", "extra", "says"), EXHAUSTED)
def test_when_the_retries_run_out_the_error_names_the_page_and_nothing_is_published(
    faulty: SimulatorServer, fault_token: str, pg_url: str, fresh_schema: str, tmp_path: Path,
    faults: FaultConfig, extra: dict[str, Any], says: str,
) -> None:
    landing = tmp_path / "landing"
    env = task_env(pg_url, fresh_schema, landing, faulty, fault_token, retries=3, **extra)
    faulty.page_gate.arm(2)
    task = Task("download", {"window": FAULT_WINDOW.to_dict()}, env, tmp_path / "logs")
    try:
        assert wait_for("the download to reach page 3", lambda: faulty.page_gate.wait_blocked(0.2) or
                        not task.alive(), timeout=60), task.stderr()
        assert task.alive(), task.stderr()
        # Two pages are in the window's unpublished version folder; page 3 now fails on every attempt.
        assert list((landing / ".versions").iterdir()) and not (landing / FAULT_WINDOW.id).exists()
        faulty.set_faults(faults)
        faulty.page_gate.release()
        outcome = task.wait(timeout=90)
    finally:
        faulty.set_faults(FaultConfig())
        faulty.page_gate.release()
        if task.alive():
            task.kill()
    assert outcome.returncode == 1
    error = outcome.error
    assert error.startswith("FAILED PlatformUnavailable: "), outcome.stderr[-2000:]
    assert says in error and "page 3 of window " + FAULT_WINDOW.id in error and "after 3 attempt(s)" in error, error
    # Nothing of the window is published: no landing link, no version folder left behind.
    assert not (landing / FAULT_WINDOW.id).exists() and list((landing / ".versions").iterdir()) == []
    with pytest.raises(Exception, match="no landing files for window"):
        read_manifest(landing, FAULT_WINDOW.id)
