"""Airflow side of flowchart triggers: a trigger that waits in the triggerer, a deferrable sensor, task bodies.

Import-light on purpose (the DAG file imports this at parse time): psycopg, the hooks and the
library are imported inside the methods that run on a worker or in the triggerer.

Nothing secret leaves this module: the trigger's serialised kwargs (stored in the metadata DB)
are a connection id, a schema name, a folder and two numbers; the URL is resolved inside the
trigger with the same rule as ``ResponseDbHook`` (Airflow connection → ``SMS_RT_DATABASE_URL`` →
embedded server). XComs carry dag ids, run ids and the flowchart's conf only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from sms_rt_airflow.constants import RESPONSE_DB_CONN_ID

log = logging.getLogger(__name__)


def _float(name: str, value: float | str) -> float:
    """Rendered template fields arrive as strings."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if out <= 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return out


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # Airflow's TriggerEvent is untyped


class FlowchartTrigger(BaseTrigger):
    """Polls ``flowchart_triggers`` for pending rows and the drop folder for ``*.json`` files.

    Yields one event, ``{"status": "found", ...}`` as soon as there is something, or
    ``{"status": "idle", ...}`` after ``timeout`` seconds of nothing (the sensor turns that into a
    clean "nothing to do"). A database error is logged and retried at the next poll; the worker
    side then meets it again with a proper task failure if it persists.
    """

    def __init__(
        self, *, conn_id: str, schema: str, drop_dir: str, poll_interval: float = 15.0, timeout: float = 300.0
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        self.conn_id = conn_id
        self.schema = schema
        self.drop_dir = drop_dir
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.polls = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"conn_id": self.conn_id, "schema": self.schema, "drop_dir": self.drop_dir,
             "poll_interval": self.poll_interval, "timeout": self.timeout},
        )

    def _resolve_url(self) -> str:
        # Sync on purpose, run in a thread: the hook's connection lookup talks to the supervisor
        # synchronously (allowed off the event-loop thread) and the embedded-server fallback blocks.
        from sms_response.settings import Settings
        from sms_rt_airflow.hooks import ResponseDbHook

        return ResponseDbHook(self.conn_id, settings=Settings.from_env()).get_uri()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import psycopg
        from psycopg import sql

        from sms_response.trigger.drop_folder import has_drop_files
        from sms_response.trigger.store import PENDING_COUNT_SQL

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        url = await asyncio.to_thread(self._resolve_url)
        drop_dir = Path(self.drop_dir)
        conn: psycopg.AsyncConnection[Any] | None = None
        last_error: str | None = None
        try:
            while True:
                self.polls += 1
                pending = 0
                try:
                    if conn is None or conn.closed:
                        conn = await psycopg.AsyncConnection.connect(
                            url, autocommit=True, application_name="sms-rt-flowchart-trigger")
                        await conn.execute(
                            sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.schema)))
                    cur = await conn.execute(PENDING_COUNT_SQL)
                    row = await cur.fetchone()
                    pending = int(row[0]) if row else 0
                    last_error = None
                except psycopg.Error as exc:
                    last_error = type(exc).__name__
                    self.log.warning("flowchart trigger: database poll failed (%s); retrying", last_error)
                    if conn is not None:
                        await conn.close()
                    conn = None
                files = await asyncio.to_thread(has_drop_files, drop_dir)
                if pending or files:
                    yield _event({"status": "found", "pending": pending, "files": files, "polls": self.polls})
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    yield _event({"status": "idle", "polls": self.polls, "last_error": last_error})
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))
        finally:
            if conn is not None:
                await conn.close()


class FlowchartTriggerSensor(BaseSensorOperator):
    """Waits for flowchart triggers without holding a worker slot; returns the runs to start.

    Each check ingests the drop folder and claims pending requests for this DAG run (a retry of
    the task first gets back what it claimed before). With something claimed it returns, as XCom,
    ``[{"trigger_dag_id", "trigger_run_id", "conf"}, ...]`` (ready for
    ``TriggerDagRunOperator.partial(...).expand_kwargs``); with nothing it defers to
    ``FlowchartTrigger`` for ``listen_timeout`` seconds, and if that passes quietly it skips
    ("nothing to do").
    """

    template_fields = ("drop_dir", "poll_interval", "listen_timeout")

    def __init__(
        self,
        *,
        conn_id: str = RESPONSE_DB_CONN_ID,
        drop_dir: str | None = None,
        poll_interval: float | str = 15.0,
        listen_timeout: float | str = 300.0,
        claim_limit: int = 20,
        reclaim_after: timedelta = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.drop_dir = drop_dir
        self.poll_interval = poll_interval
        self.listen_timeout = listen_timeout
        self.claim_limit = claim_limit
        self.reclaim_after = reclaim_after

    def _drop_dir(self) -> Path:
        from sms_response.settings import Settings

        return Path(self.drop_dir) if self.drop_dir else Settings.from_env().drop_dir

    def _ingest_and_claim(self, context: Any) -> list[dict[str, Any]]:
        from sms_response.trigger.drop_folder import ingest_drop_folder
        from sms_response.trigger.request import confs_for
        from sms_response.trigger.store import claim_pending, claimed_by
        from sms_rt_airflow.hooks import db_connection

        me = claimer(context)
        with db_connection(conn_id=self.conn_id) as conn:
            ingested = ingest_drop_folder(conn, self._drop_dir())
            if ingested.created or ingested.rejected or ingested.duplicates:
                self.log.info("drop folder: %d new trigger(s), %d already ingested, rejected %s",
                              len(ingested.created), len(ingested.duplicates), ingested.rejected or "none")
            # What an earlier try of this task claimed comes first; a claim of ours old enough to be
            # stale would be claimed again, hence the de-duplication by trigger id.
            mine = {t.trigger_id: t for t in claimed_by(conn, me)}
            for t in claim_pending(conn, me, self.claim_limit, reclaim_after=self.reclaim_after):
                mine.setdefault(t.trigger_id, t)
            triggers = list(mine.values())
        out = [
            {"trigger_dag_id": rc.dag_id, "trigger_run_id": rc.run_id, "conf": rc.conf}
            for t in triggers
            for rc in confs_for(t)
        ]
        for t in triggers:
            self.log.info("claimed trigger %d (%s, by %s): %s", t.trigger_id, t.source, t.requested_by,
                          ", ".join(rc.dag_id for rc in confs_for(t)))
        return out

    def poke(self, context: Any) -> PokeReturnValue:
        runs = self._ingest_and_claim(context)
        return PokeReturnValue(is_done=bool(runs), xcom_value=runs)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from sms_response.settings import Settings

        runs = self._ingest_and_claim(context)
        if runs:
            return runs
        listen = _float("listen_timeout", self.listen_timeout)
        self.defer(
            trigger=FlowchartTrigger(
                conn_id=self.conn_id,
                schema=Settings.from_env().schema,
                drop_dir=str(self._drop_dir()),
                poll_interval=_float("poll_interval", self.poll_interval),
                timeout=listen,
            ),
            method_name="execute_complete",
            # The trigger ends itself after `listen`; this only catches a trigger that hangs.
            timeout=timedelta(seconds=listen + 600),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        runs = self._ingest_and_claim(context)
        if runs:
            return runs
        status = (event or {}).get("status")
        raise AirflowSkipException(
            "no flowchart trigger to start" + (f" (listened for {self.listen_timeout} s)" if status == "idle" else ""))


class StartFlowchartRunOperator(TriggerDagRunOperator):
    """``TriggerDagRunOperator`` that renders nothing: the dag id, run id and conf are the flowchart's data.

    The stock operator renders ``conf`` as a Jinja template, even when mapped from XCom, so a
    message text such as ``{{ var.value.x }}`` or ``{{ conn.sms_platform.password }}`` in a
    flowchart's wave conf would be evaluated (template injection, secrets copied into a run's conf).
    Here the conf reaches the run exactly as the flowchart wrote it.
    """

    template_fields: tuple[str, ...] = ()


# --- task bodies ------------------------------------------------------------------------------------


def claimer(context: Any) -> str:
    """Who claims: this DAG run. Stable across retries of its tasks, distinct between runs."""
    dag_run = context["dag_run"]
    return f"{dag_run.dag_id}/{dag_run.run_id}"


def _state(state: Any) -> str:
    return str(getattr(state, "value", state))


def _run_exists(ti: Any, dag_id: str, run_id: str) -> bool:
    return int(ti.get_dr_count(dag_id=dag_id, run_ids=[run_id])) > 0


def record_started(context: Any) -> dict[str, Any]:
    """Write the runs this DAG run started back to its claimed triggers (asks Airflow which runs exist).

    Runs after every start attempt (trigger rule all_done): a start that failed for good (the DAG
    does not exist, the conf was refused) leaves no run, and its trigger is recorded as such.
    """
    from sms_response.trigger.request import confs_for
    from sms_response.trigger.store import claimed_by, record_start_failed
    from sms_response.trigger.store import record_started as record
    from sms_rt_airflow.hooks import db_connection

    ti = context["ti"]
    summary: dict[str, Any] = {"started": {}, "failed": []}
    with db_connection() as conn:
        for trig in claimed_by(conn, claimer(context)):
            started: dict[str, str] = {}
            missing: list[str] = []
            for rc in confs_for(trig):
                if _run_exists(ti, rc.dag_id, rc.run_id):
                    started[rc.dag_id] = rc.run_id
                else:
                    missing.append(rc.dag_id)
            if started:
                record(conn, trig.trigger_id, started, not_started=missing)
                summary["started"][str(trig.trigger_id)] = started
                log.info("trigger %d started %s%s", trig.trigger_id, started,
                         f"; could not start {missing}" if missing else "")
            else:
                record_start_failed(
                    conn, trig.trigger_id,
                    f"no run could be started ({', '.join(missing)}); see task start_runs of {claimer(context)}")
                summary["failed"].append(trig.trigger_id)
                log.error("trigger %d: no run could be started (%s)", trig.trigger_id, ", ".join(missing))
    return summary


def record_outcomes(context: Any) -> dict[str, Any]:
    """Record how the runs of started triggers ended, for those whose runs have all finished."""
    from sms_response.trigger.store import FINISHED_RUN_STATES, record_outcome, started_triggers
    from sms_rt_airflow.hooks import db_connection

    ti = context["ti"]
    recorded: dict[str, str] = {}
    waiting = 0
    with db_connection() as conn:
        for trigger_id, runs in started_triggers(conn):
            states = {
                dag_id: (_state(ti.get_dagrun_state(dag_id=dag_id, run_id=run_id))
                         if _run_exists(ti, dag_id, run_id) else "deleted")
                for dag_id, run_id in runs.items()
            }
            if all(s in FINISHED_RUN_STATES or s == "deleted" for s in states.values()):
                status = record_outcome(conn, trigger_id, states)
                if status:
                    recorded[str(trigger_id)] = status
                    log.info("trigger %d %s: %s", trigger_id, status, states)
            else:
                waiting += 1
    return {"recorded": recorded, "still_running": waiting}
