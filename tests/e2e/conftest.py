"""End-to-end fixtures: Airflow's metadata DB (SQLite, migrated once) and task environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def dagbag(airflow_db: None) -> Any:
    """Parsed afresh per test: dag.test(run_conf=…) leaves the conf in the DAG object's params."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    return bag


@pytest.fixture
def task_env(
    monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str, simulator: Any, sim_token: str, tmp_path: Path
) -> Iterator[Path]:
    """What a worker would have: connections and settings in the environment (dag.test runs tasks in-process)."""
    host, port = simulator.base_url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": sim_token}))
    monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)
    monkeypatch.setenv("SMS_RT_SCHEMA", schema)
    landing = tmp_path / "landing"
    monkeypatch.setenv("SMS_RT_LANDING_DIR", str(landing))
    yield landing
