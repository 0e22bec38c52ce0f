"""The dashboard's connection to the response database: ``ResponseDbHook``'s, read-only and time-bounded.

Not ``hooks.db_connection``: that one migrates the schema first (DDL), and a page must never write. The
session is read-only on the server (``default_transaction_read_only``), so no route can write even by
mistake, and a statement that runs away is cancelled instead of holding an API server worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg

from sms_response.settings import Settings
from sms_rt_airflow.hooks import ResponseDbHook

STATEMENT_TIMEOUT_MS = 10_000


@contextmanager
def read_only_connection(settings: Settings | None = None) -> Iterator[psycopg.Connection[Any]]:
    """A read-only connection with ``search_path`` on the response schema; closed on exit."""
    s = settings or Settings.from_env()
    # The schema is a plain identifier (Settings validates it), safe in options.
    options = (f"-c search_path={s.schema},public -c default_transaction_read_only=on "
               f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
    conn: psycopg.Connection[Any] = ResponseDbHook(settings=s, options=options).get_conn()
    with closing(conn):
        conn.read_only = True
        yield conn
