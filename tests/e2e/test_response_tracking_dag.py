"""dag.test() end to end: real Airflow, the simulator over HTTP, real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response.report import fingerprint, reconciliation, table_counts

pytestmark = pytest.mark.e2e
START = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
H = timedelta(hours=1)


def run(dag: Any, end: datetime, conf: dict[str, Any] | None = None) -> Any:
    dr = dag.test(logical_date=end, run_conf=conf)
    assert str(dr.state) in ("success", "DagRunState.SUCCESS"), f"run for {end} ended {dr.state}"
    return dr


@pytest.mark.once
def test_three_windows_then_rerun_of_the_middle_one_gives_identical_tables(
    dagbag: Any, task_env: Path, db: psycopg.Connection[TupleRow], simulator: Any
) -> None:
    dag = dagbag.dags["sms_response_tracking"]
    ends = [START + H, START + 2 * H, START + 3 * H]
    for end in ends:
        run(dag, end)
    recon = reconciliation(db)
    # a manual run at `end` processes the data interval [end - 1h, end)
    assert [r.load_id for r in recon] == [
        "20261120T090000Z-20261120T100000Z", "20261120T100000Z-20261120T110000Z", "20261120T110000Z-20261120T120000Z"]
    assert all(r.status == "published" and r.reconciles for r in recon)
    for r, end in zip(recon, ends, strict=True):
        truth = simulator.state.truth(end - H, end)
        assert r.downloaded == truth["records"]
        assert r.rejected == truth["malformed"]
        assert r.duplicates == truth["duplicates"]
        assert r.imported == truth["valid_events"]
    counts = table_counts(db)
    assert counts["sms_sent"] > 0 and counts["sms_interactions"] > 0 and counts["event_rejects"] > 0
    before = fingerprint(db)

    run(dag, ends[1])
    assert fingerprint(db) == before
    attempts = dict(db.execute("SELECT load_id, attempts FROM load_log").fetchall())
    assert attempts["20261120T100000Z-20261120T110000Z"] == 2


def test_triggered_run_with_a_conf_window_processes_exactly_that_window(
    dagbag: Any, task_env: Path, db: psycopg.Connection[TupleRow], simulator: Any
) -> None:
    dag = dagbag.dags["sms_response_tracking"]
    conf = {"window_start": "2026-11-20T09:00:00Z", "window_end": "2026-11-20T11:00:00Z"}
    run(dag, START + 10 * H, conf)
    [r] = reconciliation(db)
    assert r.load_id == "20261120T090000Z-20261120T110000Z" and r.reconciles and r.status == "published"
    assert r.downloaded == simulator.state.truth(START, START + 2 * H)["records"]
