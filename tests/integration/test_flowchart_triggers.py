"""FlowchartTrigger, what the triggerer runs, on real PostgreSQL: fires on a pending row or a drop file, else ends idle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict
from trigger_fixtures import MAILING, Db

from sms_response.trigger.drop_folder import write_trigger_file
from sms_response.trigger.request import TriggerRequest
from sms_response.trigger.store import write_trigger_row

pytestmark = pytest.mark.integration


@pytest.fixture
def conn_env(monkeypatch: pytest.MonkeyPatch, pg_url: str) -> str:
    """An Airflow connection (from the environment, as a deployment might have it) with a password."""
    parts = conninfo_to_dict(pg_url)
    monkeypatch.setenv("AIRFLOW_CONN_FLOWCHART_TEST_DB", json.dumps({
        "conn_type": "postgres", "host": parts.get("host"), "port": int(parts.get("port") or 5432),
        "schema": parts.get("dbname"), "login": parts.get("user"), "password": "pw-not-in-kwargs",
    }))
    monkeypatch.delenv("SMS_RT_DATABASE_URL", raising=False)
    return "flowchart_test_db"


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_trigger_fires_when_a_row_becomes_pending_and_keeps_secrets_out_of_its_kwargs(
    conn_env: str, schema: str, db: Db, tmp_path: Path
) -> None:
    from sms_rt_airflow.triggers import FlowchartTrigger

    trigger = FlowchartTrigger(conn_id=conn_env, schema=schema, drop_dir=str(tmp_path), poll_interval=0.05,
                               timeout=60)
    classpath, kwargs = trigger.serialize()
    assert classpath == "sms_rt_airflow.triggers.FlowchartTrigger"
    assert "pw-not-in-kwargs" not in json.dumps(kwargs) and set(kwargs) == {
        "conn_id", "schema", "drop_dir", "poll_interval", "timeout"}
    rebuilt = FlowchartTrigger(**kwargs)

    async def scenario() -> Any:
        events = rebuilt.run()
        first = asyncio.ensure_future(anext(events))
        await until(lambda: rebuilt.polls >= 2)  # it has looked and found nothing
        assert not first.done()
        await asyncio.to_thread(write_trigger_row, db, TriggerRequest(mailing_names=(MAILING,)), "t")
        event = await asyncio.wait_for(first, timeout=20)
        await events.aclose()
        return event

    event = asyncio.run(scenario())
    assert event.payload["status"] == "found" and event.payload["pending"] == 1


def test_trigger_fires_on_a_drop_file(conn_env: str, schema: str, tmp_path: Path) -> None:
    from sms_rt_airflow.triggers import FlowchartTrigger

    trigger = FlowchartTrigger(conn_id=conn_env, schema=schema, drop_dir=str(tmp_path), poll_interval=0.05,
                               timeout=60)

    async def scenario() -> Any:
        first = asyncio.ensure_future(anext(trigger.run()))
        await until(lambda: trigger.polls >= 2)
        await asyncio.to_thread(write_trigger_file, tmp_path, TriggerRequest(mailing_names=(MAILING,)))
        return await asyncio.wait_for(first, timeout=20)

    event = asyncio.run(scenario())
    assert event.payload["status"] == "found" and event.payload["files"] is True


def test_trigger_ends_idle_when_nothing_comes(
    monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str, tmp_path: Path
) -> None:
    from sms_rt_airflow.triggers import FlowchartTrigger

    monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)  # no Airflow connection: the hook's fallback
    trigger = FlowchartTrigger(conn_id="no_such_conn", schema=schema, drop_dir=str(tmp_path / "none"),
                               poll_interval=0.05, timeout=0.3)

    async def first_event() -> Any:
        return await asyncio.wait_for(anext(trigger.run()), timeout=20)

    event = asyncio.run(first_event())
    assert event.payload["status"] == "idle" and event.payload["last_error"] is None and trigger.polls >= 2
