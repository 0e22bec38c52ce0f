"""Sensors: ``FlowchartTriggerSensor`` waits for flowchart requests, deferring to ``FlowchartTrigger``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSkipException

from sms_response.settings import Settings
from sms_rt_airflow.constants import RESPONSE_DB_CONN_ID
from sms_rt_airflow.triggers import FlowchartTrigger


def claimer(context: Any) -> str:
    """Who claims: this DAG run. Stable across retries of its tasks, distinct between runs."""
    dag_run = context["dag_run"]
    return f"{dag_run.dag_id}/{dag_run.run_id}"


def _float(name: str, value: float | str) -> float:
    """Rendered template fields arrive as strings."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if out <= 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return out


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

    def _drop_dir(self, settings: Settings) -> Path:
        return Path(self.drop_dir) if self.drop_dir else settings.drop_dir

    def _ingest_and_claim(self, context: Any, settings: Settings) -> list[dict[str, Any]]:
        from sms_response.trigger.drop_folder import ingest_drop_folder
        from sms_response.trigger.request import confs_for
        from sms_response.trigger.store import claim_pending, claimed_by
        from sms_rt_airflow.hooks import db_connection

        me = claimer(context)
        with db_connection(conn_id=self.conn_id, settings=settings) as conn:
            ingested = ingest_drop_folder(conn, self._drop_dir(settings))
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
        runs = self._ingest_and_claim(context, Settings.from_env())
        return PokeReturnValue(is_done=bool(runs), xcom_value=runs)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        settings = Settings.from_env()
        runs = self._ingest_and_claim(context, settings)
        if runs:
            return runs
        listen = _float("listen_timeout", self.listen_timeout)
        self.defer(
            trigger=FlowchartTrigger(
                conn_id=self.conn_id,
                schema=settings.schema,
                drop_dir=str(self._drop_dir(settings)),
                poll_interval=_float("poll_interval", self.poll_interval),
                timeout=listen,
            ),
            method_name="execute_complete",
            # The trigger ends itself after `listen`; this only catches a trigger that hangs.
            timeout=timedelta(seconds=listen + 600),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        runs = self._ingest_and_claim(context, Settings.from_env())
        if runs:
            return runs
        status = (event or {}).get("status")
        raise AirflowSkipException(
            "no flowchart trigger to start" + (f" (listened for {self.listen_timeout} s)" if status == "idle" else ""))
