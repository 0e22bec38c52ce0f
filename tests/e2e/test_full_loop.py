"""End to end on the simulator's seeded campaign: download → import → validate → publish → segments refresh,
with segment members equal to what the simulator's behaviour model produced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

pytestmark = pytest.mark.e2e


def test_segments_from_the_published_campaign_match_the_behaviour_model(
    dagbag: Any, task_env: Path, db: psycopg.Connection[TupleRow], simulator: Any
) -> None:
    # One triggered window that covers the whole seeded campaign (sends, responses, late events).
    conf = {"window_start": "2026-11-20T08:00:00Z", "window_end": "2026-11-24T00:00:00Z"}
    dr = dagbag.dags["sms_response_tracking"].test(run_conf=conf)
    assert "success" in str(dr.state).lower()
    assert db.execute("SELECT status FROM load_log").fetchall() == [("published",)]

    # publish emitted the Asset event that schedules the segments DAG, carrying the touched mailings
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "sms_response_tables", AssetEvent.source_run_id == dr.run_id)
        ).all()
        assert len(events) == 1
        extra = dict(events[0].extra)
    assert extra["load_id"] == "20261120T080000Z-20261124T000000Z"
    segments_dag = dagbag.dags["sms_segments_refresh"]
    assert [a.name for a in segments_dag.timetable.asset_condition.objects] == ["sms_response_tables"]

    dr = segments_dag.test(run_conf={"mailing_names": extra["mailings"]})
    assert "success" in str(dr.state).lower()

    truth = {m["name"]: m for m in simulator.state.truth_all()["mailings"]}
    assert sorted(truth) == sorted(extra["mailings"])
    for name, t in truth.items():
        responders = {r[0] for r in db.execute(
            "SELECT phone_e164 FROM responders WHERE mailing_name = %s", (name,)).fetchall()}
        non_responders = {r[0] for r in db.execute(
            "SELECT phone_e164 FROM non_responders WHERE mailing_name = %s", (name,)).fetchall()}
        assert responders == set(t["responder_phones"]), name
        assert non_responders == set(t["non_responder_phones"]), name
        assert len(responders) == t["responders"] > 0
        assert not responders & non_responders
