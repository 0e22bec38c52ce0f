"""The response DB hook is the Postgres provider's hook on an ordinary connection, with the package's fallbacks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from sms_response.settings import Settings

pytestmark = pytest.mark.integration

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


def airflow_conn_uri(pg_url: str) -> str:
    """The test server as an Airflow connection URI (``AIRFLOW_CONN_…``), a Unix socket in ``?host=``."""
    from urllib.parse import quote

    p = {k: str(v) for k, v in conninfo_to_dict(pg_url).items() if v}
    host = p.get("host", "")
    netloc = quote(p.get("user", "postgres")) + (":" + quote(p["password"]) if p.get("password") else "")
    if host.startswith("/"):
        return f"postgres://{netloc}@/{p.get('dbname', 'postgres')}?host={quote(host, safe='')}"
    return f"postgres://{netloc}@{host}:{p.get('port', '5432')}/{p.get('dbname', 'postgres')}"


def test_an_ordinary_postgres_connection_wins_over_the_environment(
    pg_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sms_rt_airflow.hooks import ResponseDbHook, db_connection

    monkeypatch.setenv("AIRFLOW_CONN_SMS_RT_POSTGRES", airflow_conn_uri(pg_url))
    settings = Settings(database_url=UNREACHABLE, schema=schema)
    hook = ResponseDbHook(settings=settings)
    conn: Any = hook.get_conn()
    try:
        assert conn.execute("SHOW search_path").fetchone()[0].startswith(schema)
    finally:
        conn.close()
    with db_connection(settings=settings) as conn:
        assert conn.execute("SELECT count(*) FROM load_log").fetchone() == (0,)
    assert hook.libpq_uri().startswith("postgresql://")


def test_without_a_connection_the_database_url_is_used(pg_url: str, schema: str) -> None:
    from sms_rt_airflow.hooks import db_connection

    with db_connection(settings=Settings(database_url=pg_url, schema=schema), autocommit=True) as conn:
        assert conn.autocommit
        assert conn.execute("SELECT current_schema()").fetchone() == (schema,)


def test_async_connection_for_triggers_sets_the_schema(
    pg_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sms_rt_airflow.hooks import ResponseDbHook

    monkeypatch.setenv("AIRFLOW_CONN_SMS_RT_POSTGRES", airflow_conn_uri(pg_url))

    async def probe() -> Any:
        conn = await ResponseDbHook(settings=Settings(database_url=UNREACHABLE, schema=schema)).aget_conn()
        async with conn:
            cur = await conn.execute("SELECT current_schema()")
            return await cur.fetchone()

    assert asyncio.run(probe()) == (schema,)


def test_a_connection_with_its_own_options_still_reads_the_response_schema(
    pg_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sms_rt_airflow.hooks import db_connection

    uri = airflow_conn_uri(pg_url)
    monkeypatch.setenv("AIRFLOW_CONN_SMS_RT_POSTGRES",
                       uri + ("&" if "?" in uri else "?") + "options=-c%20statement_timeout%3D5000")
    with db_connection(settings=Settings(database_url=UNREACHABLE, schema=schema)) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
        assert conn.execute("SELECT current_schema()").fetchone() == (schema,)
