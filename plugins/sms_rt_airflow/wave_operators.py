"""Operators and triggers of the ``sms_campaign_wave`` DAG.

Each operator finds its wave by the request key (DAG id + run id), so no mailing name travels through
XCom and a retried task resumes the same wave. Waiting never holds a worker slot: the contact import
is polled by :class:`ContactImportTrigger` in the triggerer, quiet hours and the sample's response
window wait on ``DateTimeTrigger``. A dry run plans nothing persistent, so every later task skips.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from sms_rt_airflow.constants import PLATFORM_CONN_ID

# The DAG file imports this module at parse time: the domain library, psycopg and requests are
# imported inside the methods that run in a worker or the triggerer.

log = logging.getLogger(__name__)

IMPORT_POLL_SECONDS = 10.0
IMPORT_TIMEOUT_SECONDS = 3600.0
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
    row = conn.execute("SELECT mailing_name FROM wave_runs WHERE request_key = %s", (request_key(context),)).fetchone()
    if row is None:
        raise AirflowSkipException("dry run or empty plan: no wave was registered for this run")
    return str(row[0])


class ContactImportTrigger(BaseTrigger):
    """Polls a contact update import until Completed or Failed (or a timeout) in the triggerer."""

    def __init__(self, resource_id: str, conn_id: str = PLATFORM_CONN_ID, poll_interval: float = IMPORT_POLL_SECONDS,
                 timeout: float = IMPORT_TIMEOUT_SECONDS) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.resource_id = resource_id
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # Only ids and numbers: the token is read from the connection inside the triggerer.
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"resource_id": self.resource_id, "conn_id": self.conn_id, "poll_interval": self.poll_interval,
                 "timeout": self.timeout})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from sms_rt_airflow.hooks import SmsPlatformHook

        client = await SmsPlatformHook.aget_client(self.conn_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            while True:
                status = await asyncio.to_thread(client.contact_import_status, self.resource_id)
                if status.get("status") in ("Completed", "Failed"):
                    yield TriggerEvent(status)  # type: ignore[no-untyped-call]
                    return
                if loop.time() >= deadline:
                    yield TriggerEvent({"status": "Timeout", "resource_id": self.resource_id})  # type: ignore[no-untyped-call]
                    return
                self.log.info("contact import %s is %s", self.resource_id, status.get("status"))
                await asyncio.sleep(self.poll_interval)
        finally:
            client.close()


class ProfileUpdateOperator(BaseOperator):
    """Pushes the recipients' profiles (contact update import) and waits, deferred, until it is processed."""

    def __init__(self, *, platform_conn_id: str = PLATFORM_CONN_ID, poll_interval: float = IMPORT_POLL_SECONDS,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.platform_conn_id = platform_conn_id
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> dict[str, Any]:
        from sms_response.waves.profiles import start_profile_update
        from sms_response.waves.request import WaveError
        from sms_response.waves.store import wave_status
        from sms_rt_airflow.hooks import SmsPlatformHook, db_connection

        client = SmsPlatformHook(self.platform_conn_id).get_conn()
        with db_connection(autocommit=True) as conn:
            mailing = wave_of(conn, context)
            if wave_status(conn, mailing) != "planned":
                return {"mailing_name": mailing, "already_done": True}
            try:
                resource_id = start_profile_update(conn, client, mailing)
            except WaveError as exc:
                raise AirflowFailException(str(exc)) from exc
            finally:
                client.close()
        self.defer(trigger=ContactImportTrigger(resource_id, self.platform_conn_id, self.poll_interval),
                   method_name="execute_complete")
        return {}  # not reached: defer raises

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from sms_response.waves.profiles import finish_profile_update
        from sms_response.waves.request import WaveError
        from sms_rt_airflow.hooks import db_connection

        with db_connection(autocommit=True) as conn:
            mailing = wave_of(conn, context)
            if event.get("status") == "Timeout":
                raise AirflowFailException(f"wave {mailing}: contact import {event.get('resource_id')} did not finish")
            try:
                dropped = finish_profile_update(conn, mailing, event)
            except WaveError as exc:
                raise AirflowFailException(str(exc)) from exc
        return {"mailing_name": mailing, "dropped_unknown": dropped}


class WaveSendOperator(BaseOperator):
    """Sends one phase in batches; recipients outside quiet hours are waited for (deferred), not dropped."""

    def __init__(self, *, phase: str, platform_conn_id: str = PLATFORM_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if phase not in ("sample", "full"):
            raise ValueError(f"phase must be sample or full, not {phase!r}")
        self.phase = phase
        self.platform_conn_id = platform_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from sms_response.waves.send import send_phase
        from sms_rt_airflow.hooks import SmsPlatformHook, db_connection

        client = SmsPlatformHook(self.platform_conn_id).get_conn()
        try:
            with db_connection(autocommit=True) as conn:
                mailing = wave_of(conn, context)
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
    """Waits for the sample's outcome, checks the delivery-rate threshold, picks the winning variant.

    Fails without retries (nothing beyond the sample is sent) when the delivery rate is below the threshold.
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
        from sms_response.waves.sample_gate import evaluate_sample, sample_sent_at
        from sms_response.waves.store import wave_status
        from sms_rt_airflow.hooks import SmsPlatformHook, db_connection

        hook = SmsPlatformHook(self.platform_conn_id)
        client = hook.get_conn()
        try:
            with db_connection(autocommit=True) as conn:
                mailing = wave_of(conn, context)
                sent_at = sample_sent_at(conn, mailing)
                wait_until = (sent_at or datetime.now(UTC)) + timedelta(minutes=float(self.sample_wait_minutes))
                if wave_status(conn, mailing) == "sample_sent" and datetime.now(UTC) < wait_until:
                    log.info("wave %s: waiting until %s for the sample's responses", mailing, wait_until.isoformat())
                    self.defer(trigger=DateTimeTrigger(moment=wait_until), method_name="resume")
                try:
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
