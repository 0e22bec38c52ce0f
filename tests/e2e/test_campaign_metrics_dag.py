"""dag.test() of sms_campaign_metrics on published windows imported from test envelopes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
# shared fixture data of the integration tests
from test_segments import M1, M2, W1, base_events, land_and_import, publish

from sms_response.report import metrics_fingerprint

pytestmark = pytest.mark.e2e
Conn = psycopg.Connection[TupleRow]


def run(dag: Any, conf: dict[str, Any]) -> Any:
    dr = dag.test(run_conf=conf)
    assert str(dr.state) in ("success", "DagRunState.SUCCESS"), f"run ended {dr.state}"
    return dr


def xcom(dr: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(
            run_id=dr.run_id, dag_ids=dr.dag_id, task_ids=task_id, key="return_value")).one()
        return XComModel.deserialize_value(row)


def test_dag_rebuilds_then_refreshes_requested_mailings_without_changing_a_figure(
    dagbag: Any, task_env: Path, db: Conn, schema: str, tmp_path: Path
) -> None:
    publish(db, land_and_import(db, schema, tmp_path, W1, base_events()))
    dag = dagbag.dags["sms_campaign_metrics"]

    # No asset event and no mailing named: every mailing with published rows.
    out = xcom(run(dag, {"mailing_names": [], "full_rebuild": False}), "refresh_metrics")
    assert out["source"] == "full_rebuild" and out["mailings"] == [M1, M2]
    mailings = db.execute("SELECT mailing_name, sent FROM metric_mailings ORDER BY 1").fetchall()
    sent = db.execute("SELECT mailing_name, count(*) FROM sms_sent GROUP BY 1 ORDER BY 1").fetchall()
    before = metrics_fingerprint(db)
    db.commit()
    assert mailings == sent

    # A second refresh, of one mailing, then a full rebuild: not one figure changes.
    out = xcom(run(dag, {"mailing_names": [M1], "full_rebuild": False}), "refresh_metrics")
    assert out["source"] == "params" and out["mailings"] == [M1]
    assert metrics_fingerprint(db) == before
    db.commit()
    run(dag, {"mailing_names": [], "full_rebuild": True})
    assert metrics_fingerprint(db) == before
    db.commit()
