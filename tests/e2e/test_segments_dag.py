"""dag.test() of sms_segments_refresh on a published window imported from test envelopes."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
# shared fixture data of the integration tests
from test_segments import (
    M1,
    M2,
    W1,
    base_events,
    land_and_import,
    p,
    phones,
    publish,
)

pytestmark = pytest.mark.e2e
Conn = psycopg.Connection[TupleRow]


def run(dag: Any, conf: dict[str, Any] | None = None) -> Any:
    dr = dag.test(run_conf=conf)
    assert str(dr.state) in ("success", "DagRunState.SUCCESS"), f"run ended {dr.state}"
    return dr


def members(db: Conn, view: str, mailing: str) -> set[str]:
    rows = db.execute(f"SELECT phone_e164 FROM {view} WHERE mailing_name = %s", (mailing,)).fetchall()
    db.commit()
    return {str(r[0]) for r in rows}


def test_dag_refreshes_the_requested_mailings_then_all_published_ones(
    dagbag: Any, task_env: Path, db: Conn, schema: str, tmp_path: Path
) -> None:
    publish(db, land_and_import(db, schema, tmp_path, W1, base_events()))
    dag = dagbag.dags["sms_segments_refresh"]

    run(dag, {"mailing_names": [M1], "response_window_hours": 72})
    assert members(db, "responders", M1) == phones(1, 4, 9, 12)
    assert members(db, "non_responders", M1) == phones(2, 3, 5, 6, 7, 8, 14)
    assert members(db, "responders", M2) == set()  # not requested
    [(trigger, window)] = db.execute("SELECT trigger, response_window FROM segment_runs").fetchall()
    db.commit()
    assert trigger["source"] == "params" and trigger["dag_id"] == "sms_segments_refresh" and window.days == 3

    # no mailings, no asset events: every published mailing. mailing_names is given explicitly: dag.test()
    # runs tasks in-process on the same DAG object and the previous run's value was seen again without it.
    run(dag, {"mailing_names": [], "response_window_hours": 1})
    assert members(db, "responders", M1) == phones(1, 4, 12)  # p09 answered after 72h - 1m
    assert members(db, "responders", M2) == {p(5)}
    runs = db.execute("SELECT mailing_name, status, trigger->>'source' FROM segment_runs ORDER BY 1, segment_run_id"
                      ).fetchall()
    db.commit()
    assert runs == [(M1, "complete", "params"), (M1, "complete", "all_published"), (M2, "complete", "all_published")]

    # Keeping one complete run per mailing: the older run of M1 goes, with its members; the views stay.
    run(dag, {"mailing_names": [M1], "response_window_hours": 1, "keep_segment_runs": 1})
    kept = db.execute("SELECT mailing_name, count(*) FROM segment_runs GROUP BY 1 ORDER BY 1").fetchall()
    orphans = db.execute("SELECT count(*) FROM segment_members m WHERE NOT EXISTS "
                         "(SELECT 1 FROM segment_runs r WHERE r.segment_run_id = m.segment_run_id)").fetchone()
    db.commit()
    assert kept == [(M1, 1), (M2, 1)] and orphans == (0,)
    assert members(db, "responders", M1) == phones(1, 4, 12)


def test_mailings_come_from_the_triggering_asset_events() -> None:
    from airflow.sdk.api.datamodels._generated import AssetReferenceAssetEventDagRun
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    from sms_rt_airflow.assets import RESPONSE_TABLES_URI as ASSET_RESPONSE_TABLES
    from sms_rt_airflow.segment_tasks import mailings_from_asset_events

    def event(load_id: str, mailings: list[Any]) -> AssetEventDagRunReferenceResult:
        return AssetEventDagRunReferenceResult(
            asset=AssetReferenceAssetEventDagRun(name="sms_response_tables", uri=ASSET_RESPONSE_TABLES, extra={}),
            extra={"load_id": load_id, "window_start": "2026-11-20T10:00:00+00:00",
                   "window_end": "2026-11-20T11:00:00+00:00", "mailings": mailings, "counts": {}},
            source_task_id="publish", source_dag_id="sms_response_tracking", source_run_id="r1",
            source_map_index=-1, source_aliases=[], timestamp=datetime(2026, 11, 20, 11, tzinfo=UTC),
        )

    accessor = TriggeringAssetEventsAccessor.build(
        [event("w1", [M1, "bad name; DROP"]), event("w2", [M2, M1]), event("w3", [])])
    assert mailings_from_asset_events(accessor) == ([M1, M2], ["w1", "w2", "w3"])
    assert mailings_from_asset_events(None) == ([], [])
