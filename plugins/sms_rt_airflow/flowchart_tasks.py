"""Task bodies of ``unica_flowchart_trigger`` after the sensor: record what started and how it ended.

XComs carry dag ids, run ids and trigger ids only.
"""

from __future__ import annotations

import logging
from typing import Any

from sms_rt_airflow.sensors import claimer

log = logging.getLogger(__name__)


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
