"""dag.test(): a refused run conf stops the run before it touches the platform or any table."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response.report import fingerprint

pytestmark = pytest.mark.e2e
START = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
H = timedelta(hours=1)


def states(dr: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


@pytest.fixture
def fresh_dag(airflow_db: None, task_env: Path) -> Callable[[], Any]:
    """A newly parsed DAG per run: dag.test(run_conf=…) leaves the conf in the DAG object's params."""
    from airflow.dag_processing.dagbag import DagBag

    def parse() -> Any:
        bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        return bag.dags["sms_response_tracking"]

    return parse


REFUSED_BY_VALIDATE_CONF = [
    ({"window_start": "2026-11-20T09:00:00Z", "window_end": "2026-11-20T10:00:00Z", "windowEnd": "x"},
     "unknown key(s) 'windowEnd'"),
    ({"window_start": "2026-11-20T11:00:00Z", "window_end": "2026-11-20T10:00:00Z"},
     "window_end 2026-11-20T10:00:00+00:00 is not after window_start 2026-11-20T11:00:00+00:00"),
    ({"window_start": "2026-11-20T09:00:00Z"}, "window_start is given without window_end"),
    # Passes the Params' pattern (its $ matches before a trailing newline), not validate_conf.
    ({"mailing_names": ["SPRING26_Wave1", "x\n"]}, "do not match"),
]

# The Params' JSON schema refuses these when the run is created (the REST API answers 400).
REFUSED_BY_PARAMS = [
    ({"window_start": 1732093200, "window_end": "2026-11-20T10:00:00Z"}, "param window_start"),
    ({"window_start": "2026-11-20T09:00:00", "window_end": "2026-11-20T10:00:00"}, "param window_start"),
    ({"event_codes": "sentSMS"}, "param event_codes"),
    ({"event_codes": ["clickedSMS"]}, "param event_codes"),
    ({"mailing_names": ["x'; DROP TABLE mailings;--"]}, "param mailing_names"),
]


def test_refused_conf_fails_validate_conf_before_any_call_and_changes_no_table(
    fresh_dag: Callable[[], Any], db: psycopg.Connection[TupleRow], simulator: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    # One published window first, so "no table changed" is checked against real rows.
    assert str(fresh_dag().test(logical_date=START + H).state).endswith("success")
    before = fingerprint(db)
    db.commit()

    for i, (conf, message) in enumerate(REFUSED_BY_VALIDATE_CONF):
        capfd.readouterr()
        requests_before = simulator.stats()["requests"]

        dr = fresh_dag().test(logical_date=START + (2 + i) * H, run_conf=conf)

        assert str(dr.state).endswith("failed"), conf
        s = states(dr)
        assert s.pop("validate_conf").endswith("failed"), conf
        assert all(v.endswith("upstream_failed") for v in s.values()), (conf, s)
        assert message in capfd.readouterr().out, conf
        assert simulator.stats()["requests"] == requests_before, f"the platform was called for {conf}"
        assert fingerprint(db) == before, conf
        assert db.execute("SELECT count(*) FROM load_log").fetchone() == (1,), conf
        db.commit()


def test_wrong_types_and_injection_looking_names_are_refused_before_a_run_exists(
    fresh_dag: Callable[[], Any], db: psycopg.Connection[TupleRow], simulator: Any
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    before, requests_before = fingerprint(db), simulator.stats()["requests"]
    db.commit()
    dag = fresh_dag()
    for conf, message in REFUSED_BY_PARAMS:
        with pytest.raises(ParamValidationError, match=message):
            dag.test(logical_date=START + 2 * H, run_conf=conf)
    assert fingerprint(db) == before
    assert db.execute("SELECT count(*) FROM load_log").fetchone() == (0,)
    assert simulator.stats()["requests"] == requests_before


def test_valid_conf_passes_and_validate_conf_returns_the_window(
    fresh_dag: Callable[[], Any], db: psycopg.Connection[TupleRow]
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    conf = {"window_start": "2026-11-20T10:00:00+01:00", "window_end": "2026-11-20T11:00:00Z",
            "event_codes": ["sentSMS", "interactedSMS"], "mailing_names": []}
    dr = fresh_dag().test(logical_date=START + 5 * H, run_conf=conf)
    assert str(dr.state).endswith("success"), states(dr)
    with create_session() as session:
        xcom = session.scalars(XComModel.get_many(
            run_id=dr.run_id, dag_ids=dr.dag_id, task_ids="validate_conf", key="return_value")).one()
        out = XComModel.deserialize_value(xcom)
    assert out["window_start"] == "2026-11-20T09:00:00+00:00" and out["window_end"] == "2026-11-20T11:00:00+00:00"
    [(load_id, status)] = db.execute("SELECT load_id, status FROM load_log").fetchall()
    assert load_id == out["window_id"] and status == "published"
    # A filtered run is validated under its own id (span + filter key), the same id it loaded under.
    assert "-f" in load_id
    assert db.execute("SELECT load_id FROM validation_runs").fetchall() == [(load_id,)]
