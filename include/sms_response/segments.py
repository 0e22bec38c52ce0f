"""Responder / non-responder segments per mailing, versioned, switched atomically.

Rules (per mailing; only rows of windows whose ``load_log.status`` is ``published`` count):

* the send of a phone is its first *delivered* ``sms_sent`` row of the mailing (ties by event_id);
  a phone without a delivered send is in neither segment;
* **responder**: a click, reply, action or conversion of the same mailing and phone with
  ``sent_at <= interacted_at < sent_at + response_window`` while the phone was not opted out
  (the latest opt_out/opt_in of the phone, any mailing, at or before that instant is not an opt_out).
  A STOP reply is stored as ``opt_out`` by the importer, so it is never a response;
* **non-responder**: a delivered send and no qualifying response;
* both exclude phones currently opted out (``sms_consent``, or the latest published opt event) and
  phones with any hard failure (``sms_sent.status_code`` in ``hard_failure_codes``, any mailing).

Each refresh of a mailing is one transaction: a ``segment_runs`` row, its members, completion and
the switch of ``segment_current``; readers of the ``responders`` / ``non_responders`` views see the
previous complete run or the new one, never a partial one. A failed refresh leaves a ``failed`` row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from sms_response.errors import SmsResponseError
from sms_response.sqlfiles import load_sql, sql_statements

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]

DEFAULT_RESPONSE_WINDOW = timedelta(hours=72)
# Serialises refreshes of the same mailing (the second waits; both complete, the later one wins).
_SEGMENT_LOCK_KEY = 0x5D5_0003


class SegmentRefreshError(SmsResponseError):
    """A segment refresh failed; nothing of it is visible and a ``failed`` segment run records it."""

    def __init__(self, mailing_name: str, segment_run_id: int | None, message: str) -> None:
        super().__init__(message)
        self.mailing_name = mailing_name
        self.segment_run_id = segment_run_id


@dataclass(frozen=True)
class SegmentRunResult:
    mailing_name: str
    segment_run_id: int
    responders: int
    non_responders: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mailings_with_published_data(conn: Conn) -> list[str]:
    """Mailings that have at least one send in a published window, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT s.mailing_name FROM sms_sent s "
        "WHERE s.load_id IN (SELECT load_id FROM load_log WHERE status = 'published') ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _check_idle(conn: Conn) -> None:
    if conn.autocommit:
        return
    if conn.info.transaction_status != TransactionStatus.IDLE:
        # A transaction() block inside an open transaction would be a savepoint: the switch would only
        # become visible when the caller commits, and a failure record would be rolled back with it.
        raise SmsResponseError(
            "refresh_segments needs a connection outside a transaction: commit or roll back first"
        )


def _refresh_one(conn: Conn, mailing: str, response_window: timedelta, trigger: Mapping[str, Any]) -> SegmentRunResult:
    t0 = time.monotonic()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_SEGMENT_LOCK_KEY, mailing))
        row = conn.execute(
            "INSERT INTO segment_runs (mailing_name, status, response_window, trigger) "
            "VALUES (%s, 'running', %s, %s) RETURNING segment_run_id",
            (mailing, response_window, Jsonb(dict(trigger))),
        ).fetchone()
        assert row is not None
        run_id = int(row[0])
        params = {"run_id": run_id, "mailing": mailing, "response_window": response_window}
        for stmt in sql_statements("segments_members"):
            conn.execute(stmt, params)
        sizes = conn.execute(load_sql("segments_complete_run"), {"run_id": run_id, "mailing": mailing}).fetchone()
        assert sizes is not None
    result = SegmentRunResult(
        mailing_name=mailing,
        segment_run_id=run_id,
        responders=int(sizes[0]),
        non_responders=int(sizes[1]),
        seconds=round(time.monotonic() - t0, 3),
    )
    log.info(
        "segments of %s refreshed: run %d, %d responders, %d non-responders, %.2f s",
        mailing, run_id, result.responders, result.non_responders, result.seconds,
    )
    return result


def _record_failure(
    conn: Conn, mailing: str, response_window: timedelta, trigger: Mapping[str, Any], exc: BaseException
) -> int | None:
    """Record a ``failed`` run in its own transaction; never masks the original error."""
    try:
        if conn.closed or conn.broken:
            return None
        if not conn.autocommit and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.rollback()
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO segment_runs (mailing_name, status, response_window, trigger, finished_at) "
                "VALUES (%s, 'failed', %s, %s, clock_timestamp()) RETURNING segment_run_id",
                (mailing, response_window, Jsonb({**trigger, "error": f"{type(exc).__name__}: {exc}"[:2000]})),
            ).fetchone()
        return int(row[0]) if row else None
    except psycopg.Error:
        log.exception("could not record the failed segment run of %s", mailing)
        return None


def refresh_segments(
    conn: Conn,
    mailings: Sequence[str],
    *,
    response_window: timedelta = DEFAULT_RESPONSE_WINDOW,
    trigger: Mapping[str, Any] | None = None,
) -> list[SegmentRunResult]:
    """Refresh the segments of each mailing (one transaction each); return their sizes.

    ``conn`` must not be inside a transaction. On an error the mailing's transaction is rolled back
    (the views keep showing the previous complete run), a ``failed`` segment run is recorded (its
    ``trigger`` holds the error) and ``SegmentRefreshError`` is raised; mailings refreshed before it
    stay refreshed.
    """
    if response_window <= timedelta(0):
        raise ValueError(f"response_window must be positive, got {response_window}")
    if isinstance(mailings, str):
        raise TypeError("mailings must be a sequence of mailing names, not a string")
    _check_idle(conn)
    trig: Mapping[str, Any] = trigger or {}
    results: list[SegmentRunResult] = []
    names = list(dict.fromkeys(mailings))
    log.info("refreshing segments of %d mailing(s), response window %s", len(names), response_window)
    for mailing in names:
        try:
            results.append(_refresh_one(conn, mailing, response_window, trig))
        except Exception as exc:
            failed_id = _record_failure(conn, mailing, response_window, trig, exc)
            log.error("segment refresh of %s failed (run %s): %s", mailing, failed_id, exc)
            raise SegmentRefreshError(
                mailing, failed_id, f"segment refresh of mailing {mailing!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    return results


def prune_segment_runs(conn: Conn, keep: int = 5) -> int:
    """Delete old segment runs: per mailing keep the ``keep`` newest complete runs, anything newer,
    and the current run. Returns the number of runs deleted (their members go with them)."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    with conn.transaction():
        deleted = conn.execute(load_sql("segments_prune"), {"keep": keep}).fetchall()
    log.info("pruned %d segment run(s), keeping %d complete run(s) per mailing", len(deleted), keep)
    return len(deleted)


def current_runs(conn: Conn) -> dict[str, int]:
    """The run each mailing's views show."""
    rows = conn.execute("SELECT mailing_name, segment_run_id FROM segment_current ORDER BY 1").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}
