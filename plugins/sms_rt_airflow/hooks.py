"""Hooks: each owns a connection; tasks use hooks; business logic lives in ``sms_response``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from psycopg.conninfo import make_conninfo

from sms_response import migrate
from sms_response.settings import Settings
from sms_response.db import connection, resolve_url
from sms_response.platform import SmsPlatformClient, RetryPolicy
from sms_rt_airflow.constants import PLATFORM_CONN_ID, RESPONSE_DB_CONN_ID


class SmsPlatformHook(BaseHook):
    """The SMS platform's event API. Connection: host (+ port, schema http/https), password = API token.

    Extras (all optional): ``timeout_connect``, ``timeout_read`` (seconds), ``retries`` (attempts per call),
    ``short_link_base`` (the short-link domain of campaign waves; default ``<host>/r``).
    """

    conn_name_attr = "sms_platform_conn_id"
    default_conn_name = PLATFORM_CONN_ID
    conn_type = "http"
    hook_name = "SMS platform event API"

    def __init__(self, sms_platform_conn_id: str = PLATFORM_CONN_ID) -> None:
        super().__init__()
        self.conn_id = sms_platform_conn_id

    def get_conn(self) -> SmsPlatformClient:
        return client_from_connection(self.get_connection(self.conn_id))

    def short_link_base(self) -> str:
        """Where per-recipient short links point: extra ``short_link_base``, else the platform's ``/r``."""
        return short_link_base(self.get_connection(self.conn_id))

    @classmethod
    async def aget_client(cls, conn_id: str = PLATFORM_CONN_ID) -> SmsPlatformClient:
        """The client, for triggers: the connection is fetched inside the triggerer, never serialised."""
        return client_from_connection(await cls.aget_connection(conn_id))


def _base_url(conn: Any) -> str:
    host = conn.host or ""
    if "://" in host:
        return str(host)
    scheme = conn.schema or "https"
    return f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")


def client_from_connection(conn: Any) -> SmsPlatformClient:
    extra: dict[str, Any] = conn.extra_dejson or {}
    return SmsPlatformClient(
        _base_url(conn),
        conn.password or "",
        timeout=(float(extra.get("timeout_connect", 5)), float(extra.get("timeout_read", 60))),
        retry=RetryPolicy(attempts=int(extra.get("retries", 8))),
    )


def short_link_base(conn: Any) -> str:
    extra: dict[str, Any] = conn.extra_dejson or {}
    return str(extra.get("short_link_base") or f"{_base_url(conn).rstrip('/')}/r")


class ResponseDbHook(BaseHook):
    """The response-tracking PostgreSQL database.

    Resolution order: the Airflow connection ``sms_rt_postgres`` when it exists, else
    ``SMS_RT_DATABASE_URL``, else the embedded server under ``.local/``.
    """

    conn_name_attr = "response_db_conn_id"
    default_conn_name = RESPONSE_DB_CONN_ID
    conn_type = "postgres"
    hook_name = "SMS response-tracking database"

    def __init__(self, response_db_conn_id: str = RESPONSE_DB_CONN_ID, settings: Settings | None = None) -> None:
        super().__init__()
        self.conn_id = response_db_conn_id
        self.settings = settings or Settings.from_env()

    def get_uri(self) -> str:
        try:
            conn = self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            return str(resolve_url(self.settings))
        extra: dict[str, Any] = conn.extra_dejson or {}
        params = {k: v for k, v in extra.items() if k in ("sslmode", "sslrootcert", "connect_timeout")}
        return str(make_conninfo(
            host=conn.host or None,
            port=conn.port or None,
            dbname=conn.schema or "postgres",
            user=conn.login or None,
            password=conn.password or None,
            **params,
        ))

    def get_conn(self) -> str:
        return self.get_uri()


@contextmanager
def db_connection(*, autocommit: bool = False, conn_id: str = RESPONSE_DB_CONN_ID) -> Iterator[Any]:
    """A connection to the response database, its schema migrated first (cheap when already current).

    ``autocommit=True`` for code that commits its own transaction blocks (the wave steps).
    """
    settings = Settings.from_env()
    url = ResponseDbHook(conn_id, settings=settings).get_uri()
    migrate.upgrade(url, settings.schema)
    with connection(url, settings.schema, autocommit=autocommit) as conn:
        yield conn
