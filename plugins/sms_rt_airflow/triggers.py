"""Triggers: what waits in the triggerer instead of a worker slot.

* ``FlowchartTrigger``: polls ``flowchart_triggers`` and the drop folder for the flowchart listener.
* ``ContactImportTrigger``: polls a wave's contact import on the platform until it completes.

Import-light (DAG files import the operators that defer to these): psycopg, the hooks and the library
are imported inside ``run``. A trigger's ``serialize()`` holds a connection id and plain values, never a
secret; connections are resolved inside the triggerer through the hooks' async methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from sms_rt_airflow.constants import PLATFORM_CONN_ID

IMPORT_POLL_SECONDS = 10.0
IMPORT_TIMEOUT_SECONDS = 3600.0


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

    def _hook(self) -> Any:
        from sms_response.settings import Settings
        from sms_rt_airflow.hooks import ResponseDbHook

        return ResponseDbHook(self.conn_id, settings=replace(Settings.from_env(), schema=self.schema))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import psycopg

        from sms_response.trigger.drop_folder import has_drop_files
        from sms_response.trigger.store import PENDING_COUNT_SQL

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        hook = self._hook()
        drop_dir = Path(self.drop_dir)
        conn: psycopg.AsyncConnection[Any] | None = None
        last_error: str | None = None
        try:
            while True:
                self.polls += 1
                pending = 0
                try:
                    if conn is None or conn.closed:
                        conn = await hook.aget_conn()
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
