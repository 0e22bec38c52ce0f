"""The operator of ``unica_flowchart_trigger`` that starts the runs a flowchart asked for.

It is built on the Task SDK alone: it raises :class:`airflow.sdk.exceptions.DagRunTriggerException`, the
signal the task runner turns into a "trigger this DAG run" request to the API server (the same signal the
standard provider's ``TriggerDagRunOperator`` raises when it does not wait). Subclassing that operator
instead cost a third of a second at every parse of the flowchart DAG: its module imports Airflow's DAG-run
models, SQLAlchemy sessions and the API's ``trigger_dag`` at import time (``python -X importtime``), none of
which a run that does not wait needs.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import DagRunTriggerException


class StartFlowchartRunOperator(BaseOperator):
    """Start DAG run ``trigger_run_id`` of ``trigger_dag_id`` with ``conf`` exactly as the flowchart wrote it.

    Nothing is rendered (``template_fields`` is empty): the stock operator renders ``conf`` as a Jinja
    template, even when mapped from XCom, so a message text such as ``{{ var.value.x }}`` or
    ``{{ conn.sms_platform.password }}`` in a flowchart's wave conf would be evaluated (template injection,
    secrets copied into a run's conf). The run gets no logical date (like a REST-triggered run; the
    window is in its conf). When the run already exists (a claimed request retried) the task is skipped,
    never failed and never a second run. It does not wait for the run: ``record_started`` writes the run ids
    back to ``flowchart_triggers``, where the flowchart reads them.
    """

    template_fields: tuple[str, ...] = ()
    ui_color = "#ffefeb"

    def __init__(
        self, *, trigger_dag_id: str, trigger_run_id: str, conf: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf

    def execute(self, context: Any) -> None:
        if not self.trigger_run_id:
            raise ValueError("a flowchart run needs its run id (flowchart__<trigger_id>)")
        self.log.info("Starting %s run %s", self.trigger_dag_id, self.trigger_run_id)
        raise DagRunTriggerException(
            trigger_dag_id=self.trigger_dag_id,
            dag_run_id=self.trigger_run_id,
            conf=self.conf,
            logical_date=None,
            reset_dag_run=False,
            skip_when_already_exists=True,
            wait_for_completion=False,
            allowed_states=["success"],
            failed_states=["failed"],
            poke_interval=60,
            deferrable=False,
        )
