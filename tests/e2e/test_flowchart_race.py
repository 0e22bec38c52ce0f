"""Two listeners racing for the same flowchart requests, as two Airflow deployments sharing one response
database would (say blue and green during a migration): each request starts exactly one run, in one of them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sms_response.db import connect
from sms_response.trigger.request import TriggerRequest
from sms_response.trigger.store import write_trigger_row

# The second database pass leaves this module out (marker once): its SQL runs on both servers in tests/integration.
pytestmark = [pytest.mark.e2e, pytest.mark.once]
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
REQUESTS = 30  # each listening run claims up to 20, so both listeners get a share


def _airflow(home: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    log = (home / "test.log").open("ab")
    return subprocess.Popen([str(Path(sys.executable).parent / "airflow"), *args],
                            env={**env, "AIRFLOW_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT)


def _wait_all(procs: list[subprocess.Popen[bytes]], homes: list[Path]) -> None:
    for proc, home in zip(procs, homes, strict=True):
        assert proc.wait(timeout=300) == 0, (home / "test.log").read_text()[-3000:]


def test_two_listeners_start_each_request_exactly_once(pg_url: str, schema: str, tmp_path: Path) -> None:
    with connect(pg_url, schema, autocommit=True) as conn:
        ids = [write_trigger_row(conn, TriggerRequest(["SPRING26_Wave1_Offer_20261120090000"],
                                                      T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1)), "test")
               for i in range(REQUESTS)]
    env = {**os.environ, "SMS_RT_DATABASE_URL": pg_url, "SMS_RT_SCHEMA": schema,
           "SMS_RT_FLOWCHART_DROP_DIR": str(tmp_path / "drop")}
    env.pop("AIRFLOW_CONN_SMS_RT_POSTGRES", None)
    homes = [tmp_path / "blue", tmp_path / "green"]
    for home in homes:
        home.mkdir()
    _wait_all([_airflow(home, env, "db", "migrate") for home in homes], homes)
    quick = json.dumps({"listen_seconds": 2, "poll_seconds": 0.2})
    _wait_all([_airflow(home, env, "dags", "test", "unica_flowchart_trigger", "-c", quick) for home in homes], homes)

    started: dict[str, set[str]] = {}
    for home in homes:
        with sqlite3.connect(home / "airflow.db") as db:
            started[home.name] = {r[0] for r in db.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = 'sms_response_tracking'")}
    assert started["blue"] and started["green"], started  # both listeners won some requests
    assert not started["blue"] & started["green"]
    assert started["blue"] | started["green"] == {f"flowchart__{i}" for i in ids}
    with connect(pg_url, schema) as conn:
        rows = conn.execute("SELECT trigger_id, status, claimed_by, dag_run_ids FROM flowchart_triggers").fetchall()
    assert {r[1] for r in rows} == {"started"}
    for trigger_id, _, claimed_by, run_ids in rows:
        assert run_ids == {"sms_response_tracking": f"flowchart__{trigger_id}"}
        # The claimer is recorded, and it is the deployment whose metadata holds the run.
        holder = [name for name, runs in started.items() if f"flowchart__{trigger_id}" in runs]
        assert len(holder) == 1 and claimed_by.startswith("unica_flowchart_trigger/")
