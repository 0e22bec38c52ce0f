"""dag.test() of unica_flowchart_trigger: a flowchart's request becomes exactly one run of sms_response_tracking.

dag.test() creates the triggered run in Airflow's metadata DB but does not execute it, so the test
plays its completion by setting the run's state, as the scheduler would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response.trigger.request import TriggerRequest
from sms_response.trigger.store import write_trigger_row

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
MAILING = "SPRING26_Wave1_Offer_20261120090000"
# Short listening so that a run with nothing to do ends quickly (the trigger runs inline under dag.test).
QUICK = {"listen_seconds": 1, "poll_seconds": 0.2}


@pytest.fixture
def flowchart_env(monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.delenv("AIRFLOW_CONN_SMS_RT_POSTGRES", raising=False)
    monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)
    monkeypatch.setenv("SMS_RT_SCHEMA", schema)
    drop = tmp_path / "drop"
    monkeypatch.setenv("SMS_RT_FLOWCHART_DROP_DIR", str(drop))
    yield drop


def tracking_runs(dag_id: str = "sms_response_tracking") -> dict[str, Any]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(
            DagRun.dag_id == dag_id, DagRun.run_id.like("flowchart__%"))).all()
        return {r.run_id: (r.conf, str(r.state)) for r in runs}


def set_run_state(run_id: str, state: str) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagRun).where(DagRun.dag_id == "sms_response_tracking", DagRun.run_id == run_id)
                        .values(state=state))


def listen(dag: Any) -> Any:
    dr = dag.test(run_conf=QUICK)
    assert str(dr.state) in ("success", "DagRunState.SUCCESS"), dr.state
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


def test_a_pending_request_starts_one_tracking_run_and_its_outcome_is_recorded(
    dagbag: Any, flowchart_env: Path, db: psycopg.Connection[TupleRow]
) -> None:
    dag = dagbag.dags["unica_flowchart_trigger"]
    before = tracking_runs()
    tid = write_trigger_row(db, TriggerRequest(
        mailing_names=(MAILING,), window_start=T0, window_end=T0 + timedelta(hours=3)), "flowchart SPRING26")
    run_id = f"flowchart__{tid}"

    states = listen(dag)

    assert states["wait_for_triggers"] == "success" and states["start_runs"] == "success"
    with db.transaction():
        row = db.execute("SELECT status, dag_run_ids, claimed_by FROM flowchart_triggers").fetchone()
    assert row is not None and row[:2] == ("started", {"sms_response_tracking": run_id})
    assert row[2].startswith("unica_flowchart_trigger/")
    runs = tracking_runs()
    assert set(runs) - set(before) == {run_id}
    assert runs[run_id][0] == {"window_start": "2026-11-20T09:00:00+00:00",
                               "window_end": "2026-11-20T12:00:00+00:00", "mailing_names": [MAILING]}

    # Nothing new: the sensor defers, the trigger (inline) listens, then the run ends with nothing to do.
    states = listen(dag)
    assert states["wait_for_triggers"] == "skipped" and states["start_runs"] == "skipped"
    assert tracking_runs().keys() == runs.keys()
    with db.transaction():
        assert db.execute("SELECT status FROM flowchart_triggers").fetchall() == [("started",)]

    # The tracking run finishes; the next listening run records the outcome.
    set_run_state(run_id, "success")
    listen(dag)
    with db.transaction():
        assert db.execute("SELECT status, run_states FROM flowchart_triggers").fetchone() == (
            "succeeded", {"sms_response_tracking": "success"})


def test_a_request_reclaimed_after_its_run_started_is_skipped_not_started_twice(
    dagbag: Any, flowchart_env: Path, db: psycopg.Connection[TupleRow]
) -> None:
    """A listener died after starting the run but before recording it: the claim goes stale, the next
    listener takes it over, finds the run and records it; start_runs is skipped, the run's conf unchanged."""
    dag = dagbag.dags["unica_flowchart_trigger"]
    tid = write_trigger_row(db, TriggerRequest(mailing_names=(MAILING,)), "flowchart SPRING26")
    run_id = f"flowchart__{tid}"
    listen(dag)
    first = tracking_runs()[run_id]
    with db.transaction():
        db.execute("UPDATE flowchart_triggers SET status = 'claimed', dag_run_ids = '{}', "
                   "claimed_at = now() - interval '2 hours' WHERE trigger_id = %s", (tid,))

    states = listen(dag)

    assert states["wait_for_triggers"] == "success" and states["start_runs"] == "skipped"
    assert tracking_runs()[run_id] == first  # run ids are unique in Airflow: no second run, conf as first started
    with db.transaction():
        assert db.execute("SELECT status, dag_run_ids FROM flowchart_triggers").fetchone() == (
            "started", {"sms_response_tracking": run_id})


def test_a_drop_file_is_ingested_claimed_and_started_in_one_run(
    dagbag: Any, flowchart_env: Path, db: psycopg.Connection[TupleRow]
) -> None:
    from sms_response.trigger.drop_folder import write_trigger_file

    dag = dagbag.dags["unica_flowchart_trigger"]
    path = write_trigger_file(flowchart_env, TriggerRequest(mailing_names=(MAILING,)), "flowchart B")

    listen(dag)

    with db.transaction():
        tid, status, source_ref = db.execute(
            "SELECT trigger_id, status, source_ref FROM flowchart_triggers").fetchone()  # type: ignore[misc]
    assert (status, source_ref) == ("started", path.name)
    assert tracking_runs()[f"flowchart__{tid}"][0] == {"mailing_names": [MAILING]}
    assert (flowchart_env / "done" / path.name).exists()


def test_a_wave_request_starts_both_runs_with_the_conf_as_written(
    dagbag: Any, flowchart_env: Path, db: psycopg.Connection[TupleRow]
) -> None:
    """The conf reaches the runs from XCom, so Airflow does not render it: braces in a message stay as they are."""
    if "sms_campaign_wave" not in dagbag.dags:
        pytest.skip("sms_campaign_wave is not deployed")
    wave = {"campaign_code": "SPRING26", "source_mailing": MAILING, "segment": "responders", "wave_name": "Wave2",
            "template": "Hi {given_name}! {{ var.value.not_a_variable }} {{ ds }} https://example.com/o",
            "sample_size": 10, "dry_run": True}
    tid = write_trigger_row(db, TriggerRequest(mailing_names=(MAILING,), wave_conf=wave), "flowchart SPRING26")

    listen(dagbag.dags["unica_flowchart_trigger"])

    run_id = f"flowchart__{tid}"
    assert tracking_runs("sms_campaign_wave")[run_id][0] == wave
    assert tracking_runs()[run_id][0] == {"mailing_names": [MAILING]}
    with db.transaction():
        assert db.execute("SELECT status, dag_run_ids FROM flowchart_triggers").fetchone() == (
            "started", {"sms_response_tracking": run_id, "sms_campaign_wave": run_id})
