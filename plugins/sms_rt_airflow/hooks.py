"""Hooks: each owns a connection; tasks use hooks; business logic lives in ``sms_response``.

* ``SmsPlatformHook``: the SMS platform (event API, contact imports, sends), connection ``sms_platform``.
* ``ResponseDbHook``: the response database, an ordinary Postgres connection ``sms_rt_postgres`` (the
  Postgres provider's ``PostgresHook``), with the package's fallbacks for a laptop.
* ``db_connection``: the one way a task reaches the response database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from sms_response.errors import DatabaseConnectionLost
from sms_response.settings import Settings
from sms_rt_airflow.constants import PLATFORM_CONN_ID, RESPONSE_DB_CONN_ID

if TYPE_CHECKING:
    import psycopg
    from airflow.sdk import Connection

    from sms_response.adapters import ClosableSource
    from sms_response.platform import SmsPlatformClient


class SmsPlatformHook(BaseHook):
    """The SMS platform. Connection: host (+ port, schema http/https), password = API token.

    Extras (all optional): ``timeout_connect``, ``timeout_read`` (seconds), ``retries`` (attempts per call),
    ``short_link_base`` (the short-link domain of campaign waves; default ``<host>/r``), ``platform`` and the
    adapters' own extras. Connection type ``sms_platform``: its form in the UI is declared by the package's
    provider entry point (``sms_rt_provider``); a connection of any other type (``http``) works the same.
    """

    conn_name_attr = "sms_platform_conn_id"
    default_conn_name = PLATFORM_CONN_ID
    conn_type = "sms_platform"
    hook_name = "SMS platform"

    def __init__(self, sms_platform_conn_id: str = PLATFORM_CONN_ID) -> None:
        super().__init__()
        self.conn_id = sms_platform_conn_id

    def get_conn(self) -> SmsPlatformClient:
        return client_from_connection(self.get_connection(self.conn_id))

    def event_source(self) -> ClosableSource:
        """Where a window's events come from: the connection's extra ``platform`` chooses the adapter
        (``simulator``, the default: the event API client; ``ubx``, ``twilio``, ``braze``: see
        ``sms_response.adapters``)."""
        from sms_response.adapters import DEFAULT_PLATFORM, PlatformConnection, event_source, platform_name

        conn = self.get_connection(self.conn_id)
        extra = _extras(conn)
        name = platform_name(extra)
        if name == DEFAULT_PLATFORM:
            return client_from_connection(conn)
        return event_source(PlatformConnection(name, _base_url(conn), conn.login or "", conn.password or "", extra))

    def short_link_base(self) -> str:
        """Where per-recipient short links point: extra ``short_link_base``, else the platform's ``/r``."""
        return short_link_base(self.get_connection(self.conn_id))

    @classmethod
    async def aget_client(cls, conn_id: str = PLATFORM_CONN_ID) -> SmsPlatformClient:
        """The client, for triggers: the connection is fetched inside the triggerer, never serialised."""
        return client_from_connection(await cls.aget_connection(conn_id))


def _extras(conn: Any) -> dict[str, Any]:
    """The connection's extras without empty ones: the UI form saves a field left blank as null or "", which
    must mean "the default", as an absent key does."""
    extra: dict[str, Any] = conn.extra_dejson or {}
    return {k: v for k, v in extra.items() if v is not None and v != ""}


def _base_url(conn: Any) -> str:
    host = conn.host or ""
    if "://" in host:
        return str(host)
    scheme = conn.schema or "https"
    return f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")


def client_from_connection(conn: Any) -> SmsPlatformClient:
    from sms_response.platform import RetryPolicy, SmsPlatformClient

    extra = _extras(conn)
    return SmsPlatformClient(
        _base_url(conn),
        conn.password or "",
        timeout=(float(extra.get("timeout_connect", 5)), float(extra.get("timeout_read", 60))),
        retry=RetryPolicy(attempts=int(extra.get("retries", 8))),
    )


def short_link_base(conn: Any) -> str:
    extra = _extras(conn)
    return str(extra.get("short_link_base") or f"{_base_url(conn).rstrip('/')}/r")


def connection_from_url(conn_id: str, url: str) -> Connection:
    """An Airflow Postgres connection for a libpq URL or conninfo string (``SMS_RT_DATABASE_URL``, the
    embedded server): what the hook uses when no connection ``sms_rt_postgres`` is defined."""
    from airflow.sdk import Connection
    from psycopg.conninfo import conninfo_to_dict

    from sms_response.db import libpq_url

    parts = {k: str(v) for k, v in conninfo_to_dict(libpq_url(url)).items() if v is not None}
    port = parts.pop("port", None)
    return Connection(
        conn_id=conn_id,
        conn_type="postgres",
        host=parts.pop("host", None),
        port=int(port) if port else None,
        schema=parts.pop("dbname", None),
        login=parts.pop("user", None),
        password=parts.pop("password", None),
        extra=json.dumps(parts) if parts else None,
    )


class ResponseDbHook(PostgresHook):
    """The response-tracking database: an ordinary Postgres connection (``sms_rt_postgres``).

    Create it in the UI or as ``AIRFLOW_CONN_SMS_RT_POSTGRES=postgresql://user:pass@host:5432/db``.
    Without it: ``SMS_RT_DATABASE_URL``, else the embedded server under ``.local/``. Connections the
    hook opens have ``search_path`` set to the response schema (``SMS_RT_SCHEMA``), so the package's
    SQL stays unqualified.
    """

    default_conn_name = RESPONSE_DB_CONN_ID
    hook_name = "SMS response-tracking database (Postgres)"

    def __init__(
        self, postgres_conn_id: str = RESPONSE_DB_CONN_ID, *, settings: Settings | None = None, **kwargs: Any
    ) -> None:
        self.settings = settings or Settings.from_env()
        # The schema name is validated by Settings (a plain identifier), so it is safe in options.
        kwargs.setdefault("options", f"-c search_path={self.settings.schema},public")
        super().__init__(postgres_conn_id=postgres_conn_id, **kwargs)

    def _fallback(self, conn_id: str) -> Connection:
        from sms_response.db import resolve_url

        return connection_from_url(conn_id, resolve_url(self.settings))

    @property
    def connection(self) -> Any:
        if self._connection is None:  # type: ignore[has-type]
            conn_id = self.get_conn_id()
            try:
                self._connection = self.get_connection(conn_id)
            except AirflowNotFoundException:
                self._connection = self._fallback(conn_id)
        return self._connection

    @connection.setter
    def connection(self, value: Any) -> None:
        self._connection = value

    def get_conn(self) -> Any:
        """A psycopg connection on the response schema. ``search_path`` is set explicitly as well: a user's
        connection extra ``options`` replaces the hook's ``options``, and the package's SQL is unqualified."""
        from psycopg import sql

        conn: Any = super().get_conn()
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.settings.schema)))
        conn.commit()
        return conn

    def libpq_uri(self) -> str:
        """The database as a ``postgresql://`` URL (libpq, Alembic, GX); it holds the password: never log it."""
        return _libpq_uri(self.connection)

    def get_uri(self) -> str:
        return self.libpq_uri()

    async def aget_conn(self, *, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
        """An async connection for triggers: the connection is resolved inside the triggerer."""
        import asyncio

        import psycopg

        conn_id = self.get_conn_id()
        try:
            conn = await self.aget_connection(conn_id)
        except AirflowNotFoundException:
            # The fallback may start the embedded server: keep that off the triggerer's event loop.
            conn = await asyncio.to_thread(self._fallback, conn_id)
        return await psycopg.AsyncConnection.connect(
            _libpq_uri(conn), autocommit=autocommit, options=self.options,
            application_name="sms-response-tracking",
        )


def _libpq_uri(conn: Any) -> str:
    from sqlalchemy.engine import URL

    extra: dict[str, Any] = conn.extra_dejson or {}
    query = {k: str(v) for k, v in extra.items() if k not in PostgresHook.ignored_extra_options}
    host = conn.host or None
    if host and host.startswith("/"):  # a Unix socket directory goes in ?host=
        query["host"], host = host, None
    return URL.create(
        "postgresql", username=conn.login or None, password=conn.password or None, host=host,
        port=conn.port or None, database=conn.schema or "postgres", query=query,
    ).render_as_string(hide_password=False)


@contextmanager
def db_connection(
    *, autocommit: bool = False, conn_id: str = RESPONSE_DB_CONN_ID, settings: Settings | None = None,
    purpose: str = "",
) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the response database, its schema migrated first (cheap when already current).

    ``autocommit=True`` for code that commits its own transaction blocks (the wave steps). When the connection
    breaks under the step (the server restarted, the network cut), the error says so, with ``purpose`` (what the
    step was doing) and the server's own words, as :class:`DatabaseConnectionLost`, which a retry may fix.
    """
    from sms_response import migrate

    hook = ResponseDbHook(conn_id, settings=settings)
    migrate.upgrade(hook.libpq_uri(), hook.settings.schema)
    conn: psycopg.Connection[Any] = hook.get_conn()
    try:
        conn.autocommit = autocommit
        yield conn
    except Exception as exc:
        if not conn.broken or isinstance(exc, DatabaseConnectionLost):
            raise
        during = f" during {purpose}" if purpose else ""
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseConnectionLost(
            f"lost the connection to the response database{during}: {first_line}. What this attempt had not "
            "committed was rolled back by the server; retrying the task resumes safely."
        ) from exc
    finally:
        conn.close()
