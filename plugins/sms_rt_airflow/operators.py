"""Operators of the package's DAGs.

``sms_campaign_wave``: each operator finds its wave by the request key (DAG id + logical date, else run
id), so no mailing name travels through XCom and a retried task resumes the same wave. Profiles are pushed per
phase (the sample's before it is sent, the rest's after the gate). Waiting never holds a worker slot: each
contact import is polled by ``ContactImportTrigger`` in the triggerer, quiet
hours and the sample's response window wait on ``DateTimeTrigger``. A dry run plans nothing persistent,
so every later task skips. ``unica_flowchart_trigger``'s operator is in :mod:`sms_rt_airflow.flowchart_operators`.

The DAG files import this module at parse time: the domain library, psycopg and requests are imported
inside the methods that run in a worker.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from sms_rt_airflow.constants import PLATFORM_CONN_ID
from sms_rt_airflow.triggers import IMPORT_POLL_SECONDS, ContactImportTrigger

log = logging.getLogger(__name__)

DELIVERY_POLL = timedelta(minutes=1)


def request_key(context: Any) -> str:
    """What identifies one wave request: the DAG and the run's logical date, else its run id.

    A logical date is unique per DAG, and survives what a run id does not: ``airflow dags test`` or a
    deleted-and-recreated run for the same date picks up the same wave instead of planning a second one.
    """
    dag_run = context["dag_run"]
    logical_date = getattr(dag_run, "logical_date", None)
    return f"{dag_run.dag_id}/{logical_date.isoformat() if logical_date else dag_run.run_id}"


def wave_of(conn: Any, context: Any) -> str:
    """The mailing of this DAG run's wave; skips the task when the run planned none (dry run)."""
    from sms_response.waves.store import wave_for_request

    mailing = wave_for_request(conn, request_key(context))
    if mailing is None:
        raise AirflowSkipException("dry run or empty plan: no wave was registered for this run")
    return mailing


def check_phase(phase: str) -> str:
    if phase not in ("sample", "full"):
        raise ValueError(f"phase must be sample or full, not {phase!r}")
    return phase


class ProfileUpdateOperator(BaseOperator):
    """Pushes one phase's profiles (contact update import) and waits, deferred, until the platform processed it.

    ``phase="sample"``: the sample's recipients, before the sample is sent. ``phase="full"``: the rest of the
    audience, only once the sample gate passed (refused otherwise, so a failed sample leaves them untouched).
    """

    def __init__(self, *, phase: str, platform_conn_id: str = PLATFORM_CONN_ID,
                 poll_interval: float = IMPORT_POLL_SECONDS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phase = check_phase(phase)
        self.platform_conn_id = platform_conn_id
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> dict[str, Any]:
        from sms_response.waves.profiles import start_profile_update
        from sms_response.waves.request import WaveError
        from sms_rt_airflow.hooks import SmsPlatformHook, db_connection

        client = SmsPlatformHook(self.platform_conn_id).get_conn()
        with db_connection(autocommit=True) as conn:
            mailing = wave_of(conn, context)
            try:
                started = start_profile_update(conn, client, mailing, self.phase)
            except WaveError as exc:
                raise AirflowFailException(str(exc)) from exc
            finally:
                client.close()
        if started.finished:  # a previous attempt finished it, or nobody to push
            return started.to_json()
        assert started.import_id is not None
        self.defer(trigger=ContactImportTrigger(started.import_id, self.platform_conn_id, self.poll_interval),
                   method_name="execute_complete")
        return {}  # not reached: defer raises

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from sms_response.waves.profiles import finish_profile_update
        from sms_response.waves.request import WaveError
        from sms_rt_airflow.hooks import db_connection

        with db_connection(autocommit=True) as conn:
            mailing = wave_of(conn, context)
            if event.get("status") == "Timeout":
                raise AirflowFailException(
                    f"wave {mailing}: the {self.phase} phase's contact import {event.get('resource_id')} did not "
                    "finish; clearing the task polls the same import again")
            try:
                finished = finish_profile_update(conn, mailing, self.phase, event)
            except WaveError as exc:
                raise AirflowFailException(str(exc)) from exc
        return finished.to_json()


class WaveSendOperator(BaseOperator):
    """Sends one phase in batches; recipients outside quiet hours are waited for (deferred), not dropped."""

    def __init__(self, *, phase: str, platform_conn_id: str = PLATFORM_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phase = check_phase(phase)
        self.platform_conn_id = platform_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from sms_response.waves.profiles import require_profiles_pushed
        from sms_response.waves.request import WaveError
        from sms_response.waves.send import send_phase
        from sms_rt_airflow.hooks import SmsPlatformHook, db_connection

        client = SmsPlatformHook(self.platform_conn_id).get_conn()
        try:
            with db_connection(autocommit=True, purpose=f"the wave's {self.phase} send") as conn:
                mailing = wave_of(conn, context)
                try:  # a phase is never sent before its profiles (e.g. an upstream task marked success by hand)
                    require_profiles_pushed(conn, mailing, self.phase)
                except WaveError as exc:
                    raise AirflowFailException(str(exc)) from exc
                progress = send_phase(conn, client, mailing, self.phase)
        finally:
            client.close()
        if not progress.done:
            assert progress.next_send_at is not None
            log.info("wave %s %s: %d recipient(s) wait for their quiet hours to end; next at %s", mailing,
                     self.phase, progress.waiting, progress.next_send_at.isoformat())
            self.defer(trigger=DateTimeTrigger(moment=progress.next_send_at), method_name="resume")
        return progress.to_json()

    def resume(self, context: Any, event: Any = None) -> dict[str, Any]:
        return self.execute(context)


class SampleGateOperator(BaseOperator):
    """Waits for the sample's outcome, checks its reach and delivery rate against the threshold, picks the winner.

    Fails without retries (nothing beyond the sample is pushed or sent) when the sample's contact import dropped
    too many numbers (checked before waiting) or the delivery rate is below the threshold.
    """

    template_fields = ("sample_wait_minutes",)

    def __init__(self, *, sample_wait_minutes: Any = 60, platform_conn_id: str = PLATFORM_CONN_ID,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample_wait_minutes = sample_wait_minutes
        self.platform_conn_id = platform_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from sms_response.mapping import load_mapping
        from sms_response.waves.request import WaveError
        from sms_response.waves.sample_gate import check_sample_import, evaluate_sample, sample_sent_at
        from sms_response.waves.store import wave_spec, wave_status
        from sms_rt_airflow.hooks import SmsPlatformHook, db_connection

        hook = SmsPlatformHook(self.platform_conn_id)
        client = hook.get_conn()
        try:
            with db_connection(autocommit=True) as conn:
                mailing = wave_of(conn, context)
                sent_at = sample_sent_at(conn, mailing)
                wait_until = (sent_at or datetime.now(UTC)) + timedelta(minutes=float(self.sample_wait_minutes))
                try:
                    if wave_status(conn, mailing) == "sample_sent" and datetime.now(UTC) < wait_until:
                        # The import's verdict needs no waiting: an unreachable sample fails now.
                        check_sample_import(conn, mailing, wave_spec(conn, mailing).sample_threshold)
                        log.info("wave %s: waiting until %s for the sample's responses", mailing,
                                 wait_until.isoformat())
                        self.defer(trigger=DateTimeTrigger(moment=wait_until), method_name="resume")
                    result = evaluate_sample(conn, client, load_mapping(), mailing,
                                             short_link_base=hook.short_link_base())
                except WaveError as exc:
                    raise AirflowFailException(str(exc)) from exc
        finally:
            client.close()
        if not result.ready:
            log.info("wave %s: %d sample message(s) still pending at the platform", mailing, result.pending)
            self.defer(trigger=DateTimeTrigger(moment=datetime.now(UTC) + DELIVERY_POLL), method_name="resume")
        return result.to_json()

    def resume(self, context: Any, event: Any = None) -> dict[str, Any]:
        return self.execute(context)


def __getattr__(name: str) -> Any:
    """``StartFlowchartRunOperator`` moved to :mod:`sms_rt_airflow.flowchart_operators` (only the flowchart DAG
    needs it); the old import path still works."""
    if name == "StartFlowchartRunOperator":
        from sms_rt_airflow.flowchart_operators import StartFlowchartRunOperator

        return StartFlowchartRunOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
