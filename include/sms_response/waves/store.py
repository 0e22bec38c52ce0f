"""A wave's run row (``wave_runs``) as the steps share it: its stored request, its status, the autocommit rule."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response.sqlfiles import load_sql
from sms_response.waves.request import WaveError, WaveSpec

Conn = psycopg.Connection[TupleRow]


def require_autocommit(conn: Conn) -> None:
    if not conn.autocommit:
        raise ValueError("wave steps need an autocommit connection (each step commits its own transactions)")


def wave_for_request(conn: Conn, request_key: str) -> str | None:
    """The mailing of the wave a request (DAG id + logical date or run id) planned, if any."""
    row = conn.execute(load_sql("wave_run_by_request"), {"request_key": request_key}).fetchone()
    return None if row is None else str(row[0])


def wave_spec(conn: Conn, mailing: str) -> WaveSpec:
    row = conn.execute(load_sql("wave_params"), {"mailing": mailing}).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    return WaveSpec(**row[0])


def wave_status(conn: Conn, mailing: str) -> str:
    row = conn.execute(load_sql("wave_status"), {"mailing": mailing}).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    return str(row[0])


def set_status(conn: Conn, mailing: str, status: str, reason: str | None = None, **extra: Any) -> None:
    """Move the wave to ``status``; ``extra`` sets more ``wave_runs`` columns (winner, sample_stats, …)."""
    extra_sets = sql.SQL("").join(
        sql.SQL(", {} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in extra
    )
    conn.execute(
        sql.SQL(load_sql("wave_set_status")).format(extra=extra_sets),
        {"status": status, "reason": reason, "mailing": mailing, **extra},
    )
