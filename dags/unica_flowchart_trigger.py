"""
### Flowchart trigger: start response tracking (and the next wave) when a campaign flowchart asks

Plays the part of the campaign server's trigger script and scheduler. A flowchart (or anyone)
leaves a request as a row of `flowchart_triggers`, or as a JSON file in the drop folder
(`SMS_RT_FLOWCHART_DROP_DIR`, default `.local/flowchart_drop`); `python -m sms_response.trigger`
writes either. This DAG claims each request exactly once and starts the runs it asks for.

| task | what it does |
|---|---|
| `wait_for_triggers` | ingests drop files (atomic moves to `processing/`, then `done/` or `rejected/` + `.reason`), claims pending rows (`FOR UPDATE SKIP LOCKED`); with nothing to claim it **defers** to the triggerer, which polls table and folder every `poll_seconds`, for at most `listen_seconds`, then skips ("nothing to do") |
| `start_runs` | one mapped `TriggerDagRunOperator` per run (templating off: the conf is data, never Jinja): `sms_response_tracking` with `{window_start, window_end, mailing_names}`, `sms_campaign_wave` with the request's wave conf; run id `flowchart__<trigger_id>`, so a retry or a re-claim can never start a second run (an existing run is skipped) |
| `record_started` | writes the run ids back to each claimed row (`started`), or `failed` when no run could be created |
| `record_outcomes` | for `started` rows whose runs have all finished, records their states: `succeeded` or `failed` |

**Schedule: `@continuous`, one active run.** A new listening run starts as soon as the previous one
ends, so a request is picked up within one poll interval, and while nothing happens the deferred
sensor costs a coroutine in the triggerer, not a worker slot. Outcomes are swept at the start of
each run instead of waiting for the started runs, which can take hours (a wave honours quiet
hours): a waiting listener would stop listening. Event-driven scheduling (an `AssetWatcher` with a
`BaseEventTrigger`) would start the DAG on a trigger event, but a poller of a table and a folder
fires again on every poll while a request is still pending, and the exactly-once claim and file
ingestion must run in a task anyway; the continuous listener gives the same latency with the claim
in one place.

**Inputs**: `flowchart_triggers`, the drop folder; connection `sms_rt_postgres` or
`SMS_RT_DATABASE_URL` (else the embedded server). **Outputs**: runs of `sms_response_tracking` /
`sms_campaign_wave`, status, run ids and outcomes in `flowchart_triggers`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, dag, task

from sms_rt_airflow.constants import TAGS_FLOWCHART, default_args
from sms_rt_airflow.flowchart_operators import StartFlowchartRunOperator
from sms_rt_airflow.sensors import FlowchartTriggerSensor


@dag(
    dag_id="unica_flowchart_trigger",
    schedule="@continuous",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=TAGS_FLOWCHART,
    default_args=default_args(execution_timeout=timedelta(minutes=10)),
    params={
        "listen_seconds": Param(
            300, type="integer", minimum=1, maximum=3600,
            description="How long one run listens for a request before it ends with nothing to do.",
        ),
        "poll_seconds": Param(
            15, type="number", exclusiveMinimum=0, maximum=600,
            description="How often the triggerer looks at the table and the drop folder.",
        ),
    },
)
def unica_flowchart_trigger() -> None:
    wait_for_triggers = FlowchartTriggerSensor(
        task_id="wait_for_triggers",
        poll_interval="{{ params.poll_seconds }}",
        listen_timeout="{{ params.listen_seconds }}",
        doc_md="Ingest drop files and claim pending requests; defer to the triggerer while there is none.",
    )

    # Starts each run with no template rendered: the flowchart's conf (a message text with braces)
    # reaches the run as written and can never evaluate Jinja; an existing run is skipped, never doubled.
    start_runs = StartFlowchartRunOperator.partial(
        task_id="start_runs",
        doc_md="Start one run per requested DAG, run id flowchart__<trigger_id> (an existing run is skipped).",
    ).expand_kwargs(wait_for_triggers.output)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def record_started(**context: object) -> dict[str, object]:
        """Write the started run ids back to the claimed requests (failed when none could start)."""
        from sms_rt_airflow import flowchart_tasks

        return flowchart_tasks.record_started(context)

    @task
    def record_outcomes(**context: object) -> dict[str, object]:
        """Record succeeded / failed for started requests whose runs have all finished."""
        from sms_rt_airflow import flowchart_tasks

        return flowchart_tasks.record_outcomes(context)

    start_runs >> record_started()
    record_outcomes()


unica_flowchart_trigger()
