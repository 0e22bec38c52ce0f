"""Live Airflow fixtures: a real api-server, scheduler (LocalExecutor), dag-processor and triggerer.

``live_airflow`` starts one stack per session (``sms_rt_airflow.local_stack``) whose tasks load into a
fresh schema from a simulator on loopback, and hands tests a ``LiveAirflow``: the stack, an
authenticated ``airflow_client.client.ApiClient``, the response-DB connection and helpers
(``wait_for_dag``, ``unpause``, ``trigger``, ``wait_for_run``, ``wait_for_backfill``). Every REST call
goes through the official client. The stack's metadata DB is a database with a random name on the
test server (dropped at the end), so parallel sessions never collide.

To drive another DAG (e.g. a flowchart-trigger sensor): ``live.unpause("<dag_id>")``, make it act
(insert a trigger row with ``live.connect()``), find the run it started with ``live.dag_runs`` and
``live.wait_for_run("sms_response_tracking", run_id)``. The stack's ``sms_response_tracking`` has
``end_date`` = ``LIVE_END_DATE`` (``SMS_RT_END_DATE``), so unpausing it adds no scheduled run; a run
triggered with a ``logical_date`` after that date would not start its tasks; trigger with
``logical_date: null`` and the window in the conf, as upstream systems do.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response import migrate
from sms_response.db import connect, drop_schema
from sms_rt_airflow.local_stack import AirflowStack, StackConfig, wait_until

CAMPAIGN_START = datetime(2026, 11, 20, 9, tzinfo=UTC)
H = timedelta(hours=1)
LIVE_HOURS = 4
# The stack's DAG stops scheduling here: unpausing it must not add a run for "now" (an empty window
# that the dag.test() reference would not have). Manual runs without a logical date and backfills
# up to this date are unaffected.
LIVE_END_DATE = CAMPAIGN_START + LIVE_HOURS * H
PLATFORM_POOL = "sms_platform_api"
FINISHED = ("success", "failed")


@pytest.fixture(scope="session")
def live_simulator(sim_token: str) -> Iterator[Any]:
    """The platform simulator for the live stack: the same seeded campaign as the ``simulator`` fixture,
    in its own server so no other test's pushes can publish events into the live windows."""
    from sms_simulator import SimulatorConfig, SimulatorServer, build_state

    cfg = SimulatorConfig(
        seed=11, recipients=300, mailings=2, campaign_start=CAMPAIGN_START,
        duplicate_rate=0.02, malformed_rate=0.02, late_rate=0.05, multi_event_rate=0.02,
    )
    with SimulatorServer(build_state(cfg), token=sim_token) as sim:
        yield sim


def platform_conn(simulator: Any, token: str) -> str:
    host, port = simulator.base_url.removeprefix("http://").split(":")
    return json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": token})


@dataclass
class LiveAirflow:
    """A running stack and what tests need to drive it."""

    stack: AirflowStack
    api: Any  # airflow_client.client.ApiClient
    pg_url: str
    schema: str
    simulator: Any
    platform_conn: str  # the AIRFLOW_CONN_SMS_PLATFORM value the stack's tasks use
    timings: dict[str, float] = field(default_factory=dict)

    # -- REST helpers (official client) ------------------------------------------------------

    @property
    def dag_runs(self) -> Any:
        from airflow_client.client import DagRunApi

        return DagRunApi(self.api)

    @property
    def backfills(self) -> Any:
        from airflow_client.client import BackfillApi

        return BackfillApi(self.api)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> Any:
        """Wait until the dag-processor has serialised ``dag_id`` (the API knows it, without import errors)."""
        from airflow_client.client import DAGApi
        from airflow_client.client.exceptions import NotFoundException

        def parsed() -> Any:
            try:
                dag = DAGApi(self.api).get_dag(dag_id)
            except NotFoundException:
                return None
            return dag if not dag.has_import_errors else None

        return wait_until(parsed, timeout, what=f"DAG {dag_id} parsed")

    def unpause(self, dag_id: str) -> None:
        from airflow_client.client import DAGApi, DAGPatchBody

        self.wait_for_dag(dag_id)
        DAGApi(self.api).patch_dag(dag_id, DAGPatchBody(is_paused=False))

    def trigger(self, dag_id: str, conf: dict[str, Any], run_id: str | None = None) -> Any:
        """Trigger a run with ``logical_date: null`` (what upstream systems send); returns the DAGRunResponse."""
        from airflow_client.client import TriggerDAGRunPostBody

        body = TriggerDAGRunPostBody(dag_run_id=run_id or f"live_{uuid.uuid4().hex[:8]}", conf=conf,
                                     logical_date=None)
        return self.dag_runs.trigger_dag_run(dag_id, body)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        from airflow_client.client import TaskInstanceApi

        tis = TaskInstanceApi(self.api).get_task_instances(dag_id, run_id).task_instances
        return {ti.task_id: str(ti.state.value if ti.state is not None else None) for ti in tis}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180, expect: str | None = "success") -> Any:
        """Poll the run until it exists and finishes (deadline ``timeout``); assert its state is ``expect``."""
        from airflow_client.client.exceptions import NotFoundException

        def finished() -> Any:
            try:
                run = self.dag_runs.get_dag_run(dag_id, run_id)
            except NotFoundException:  # started by someone else (a sensor), not yet created
                return None
            return run if str(run.state.value) in FINISHED else None

        try:
            run = wait_until(finished, timeout, what=f"run {dag_id}/{run_id} finished")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; tasks {self.task_states(dag_id, run_id)}\n{self.diagnostics()}") from exc
        if expect is not None and str(run.state.value) != expect:
            raise AssertionError(
                f"run {dag_id}/{run_id} ended {run.state.value}, expected {expect}; tasks "
                f"{self.task_states(dag_id, run_id)}\n{self.diagnostics(dag_id, run_id)}"
            )
        return run

    def backfill_runs(self, backfill: Any) -> list[Any]:
        """The backfill runs of ``backfill``'s DAG whose logical dates lie in its range, oldest first."""
        return list(self.dag_runs.get_dag_runs(
            backfill.dag_id, run_type=["backfill"], logical_date_gte=backfill.from_date,
            logical_date_lte=backfill.to_date, order_by=["logical_date"], limit=100,
        ).dag_runs)

    def wait_for_backfill(self, backfill: Any, timeout: float = 300) -> list[Any]:
        """Wait until the backfill is completed and return its runs, each asserted successful."""
        def completed() -> Any:
            b = self.backfills.get_backfill(backfill.id)
            return b if b.completed_at is not None else None

        try:
            wait_until(completed, timeout, interval=2, what=f"backfill {backfill.id} completed")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.diagnostics()}") from exc
        runs = self.backfill_runs(backfill)
        bad = {r.dag_run_id: r.state.value for r in runs if str(r.state.value) != "success"}
        if bad:
            details = {rid: self.task_states(backfill.dag_id, rid) for rid in bad}
            raise AssertionError(f"backfill runs not successful: {bad}; tasks {details}\n{self.diagnostics()}")
        return runs

    # -- the response tables -----------------------------------------------------------------

    def connect(self) -> psycopg.Connection[TupleRow]:
        return connect(self.pg_url, self.schema)

    # -- diagnostics -------------------------------------------------------------------------

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        logs = sorted(p for p in (self.stack.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/*.log")
                      if ".log.trigger." not in p.name)  # a deferred task also has its trigger's log beside it
        return logs[-1].read_text(errors="replace")[-4000:] if logs else ""

    def diagnostics(self, dag_id: str | None = None, run_id: str | None = None) -> str:
        parts = [f"--- scheduler log tail ---\n{self.stack.log_tail('scheduler', 30)}"]
        if dag_id and run_id:
            for task_id, state in self.task_states(dag_id, run_id).items():
                if state == "failed":
                    parts.append(f"--- log of {task_id} ---\n{self.task_log(dag_id, run_id, task_id)}")
        return "\n".join(parts)


@pytest.fixture(scope="session")
def live_schema(pg_url: str) -> Iterator[str]:
    name = f"live_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, name)
    yield name
    drop_schema(pg_url, name)


@pytest.fixture(scope="session")
def live_airflow(
    pg_url: str, live_simulator: Any, sim_token: str, live_schema: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAirflow]:
    """One live stack per session; tasks reach the simulator and the response DB through the environment."""
    from airflow_client.client import PoolApi, PoolBody

    work = tmp_path_factory.mktemp("live")
    conn = platform_conn(live_simulator, sim_token)
    env = {
        "AIRFLOW_CONN_SMS_PLATFORM": conn,
        "SMS_RT_DATABASE_URL": pg_url,
        "SMS_RT_SCHEMA": live_schema,
        "SMS_RT_LANDING_DIR": str(work / "landing"),
        "SMS_RT_DATA_DOCS_DIR": str(work / "data_docs"),
        "SMS_RT_END_DATE": LIVE_END_DATE.isoformat(),
    }
    # Two cores are enough: four task slots, the import lock serialises the loads anyway.
    stack = AirflowStack(StackConfig(server_url=pg_url, env=env, parallelism=4, home=work / "airflow"))
    t0 = time.monotonic()
    with stack, stack.api_client() as api:
        live = LiveAirflow(stack=stack, api=api, pg_url=pg_url, schema=live_schema, simulator=live_simulator,
                           platform_conn=conn)
        live.timings["stack_start_s"] = time.monotonic() - t0
        PoolApi(api).post_pool(PoolBody(name=PLATFORM_POOL, slots=2, description="SMS platform event API"))
        yield live
    # stop() raised if a process was left; check again, from the outside.
    assert stack.leftover_processes() == [], "Airflow processes left after the stack stopped"
    print(f"\nlive stack: start {live.timings['stack_start_s']:.1f} s, stop {stack.timings['stop_s']:.1f} s")
