"""A window that fails a critical expectation is not published; once the feed is fixed, a rerun publishes it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_simulator import SimulatorConfig, SimulatorServer, build_state

# The second database pass leaves this module out (marker once): its SQL runs on both servers in tests/integration.
pytestmark = [pytest.mark.e2e, pytest.mark.once]
START = datetime.fromisoformat("2026-11-20T09:00:00+00:00")


def point_platform_at(monkeypatch: pytest.MonkeyPatch, sim: Any, token: str) -> None:
    host, port = sim.base_url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": token}))


def test_critical_failure_blocks_publishing_and_a_fixed_feed_publishes(
    dagbag: Any, task_env: Path, db: psycopg.Connection[TupleRow], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dag = dagbag.dags["sms_response_tracking"]
    monkeypatch.setenv("SMS_RT_DATA_DOCS_DIR", str(tmp_path / "docs"))
    end = START + timedelta(hours=1)
    # A broken feed: a fifth of the records malformed (the reject-rate gate is 5 %).
    broken = build_state(SimulatorConfig(seed=11, recipients=300, mailings=2, campaign_start=START, malformed_rate=0.2))
    with SimulatorServer(broken, token="tok-broken") as sim:
        point_platform_at(monkeypatch, sim, "tok-broken")
        dr = dag.test(logical_date=end)
    assert "fail" in str(dr.state).lower()
    status, message = db.execute("SELECT status, message FROM load_log").fetchone() or (None, None)
    assert status == "failed_validation" and "reject_rate" in str(message)
    runs = db.execute("SELECT success, critical_failures FROM validation_runs").fetchall()
    assert runs == [(False, 1)]
    assert db.execute("SELECT count(*) FROM load_log WHERE status = 'published'").fetchone() == (0,)
    assert (tmp_path / "docs" / "index.html").exists()
    # its rows never reach a segment
    segments = dagbag.dags["sms_segments_refresh"]
    assert "success" in str(segments.test(run_conf={"mailing_names": []}).state).lower()
    assert db.execute("SELECT count(*) FROM segment_members").fetchone() == (0,)

    # The platform fixes its feed; rerunning the window publishes it.
    fixed = build_state(SimulatorConfig(seed=11, recipients=300, mailings=2, campaign_start=START))
    with SimulatorServer(fixed, token="tok-fixed") as sim:
        point_platform_at(monkeypatch, sim, "tok-fixed")
        dr = dag.test(logical_date=end)
    assert "success" in str(dr.state).lower()
    assert db.execute("SELECT status, rejected FROM load_log").fetchone() == ("published", 0)
    assert db.execute("SELECT success FROM validation_runs ORDER BY validation_id").fetchall() == [(False,), (True,)]
    assert "success" in str(segments.test(run_conf={"mailing_names": []}).state).lower()
    sizes = db.execute("SELECT (SELECT count(*) FROM responders), (SELECT count(*) FROM non_responders)").fetchone()
    assert sizes is not None and sizes[0] > 0 and sizes[1] > 0
