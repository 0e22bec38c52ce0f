"""The operator of ``unica_flowchart_trigger``, apart from the wave DAG's operators: its base,
``TriggerDagRunOperator``, brings in Airflow's DAG-run models at import (about a third of a second of the wave
DAG's parse when both lived in :mod:`sms_rt_airflow.operators`)."""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator


class StartFlowchartRunOperator(TriggerDagRunOperator):
    """``TriggerDagRunOperator`` that renders nothing: the dag id, run id and conf are the flowchart's data.

    The stock operator renders ``conf`` as a Jinja template, even when mapped from XCom, so a
    message text such as ``{{ var.value.x }}`` or ``{{ conn.sms_platform.password }}`` in a
    flowchart's wave conf would be evaluated (template injection, secrets copied into a run's conf).
    Here the conf reaches the run exactly as the flowchart wrote it.
    """

    template_fields: tuple[str, ...] = ()
