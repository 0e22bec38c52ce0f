"""The ``flowchart_triggers`` table: writing requests, claiming each exactly once, recording what became of it.

Life of a request: ``pending`` → ``claimed`` → ``started`` → ``succeeded`` | ``failed``; a request
that cannot be read or validated ends ``rejected`` with the reason in ``message``. Claims use
``FOR UPDATE SKIP LOCKED``, so of several claimers exactly one takes a row; a claim whose claimer
died is taken over after ``reclaim_after``. Every function takes the connection it works on and
commits its own transaction; the SQL lives in ``sql/flowchart_*.sql``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from sms_response.sqlfiles import load_sql
from sms_response.trigger.request import ClaimedTrigger, InvalidTrigger, TriggerRequest

Conn = psycopg.Connection[TupleRow]

# Airflow run states after which a run will not change any more.
FINISHED_RUN_STATES = frozenset({"success", "failed"})

# Also polled by the Airflow trigger on its own async connection.
PENDING_COUNT_SQL = load_sql("flowchart_pending_count")


def _insert_params(req: TriggerRequest, source: str, source_ref: str | None, requested_by: str) -> dict[str, Any]:
    return {
        "source": source,
        "source_ref": source_ref,
        "requested_by": requested_by,
        "run_tracking": req.run_tracking,
        "run_wave": req.run_wave,
        "mailing_names": list(req.mailing_names),
        "window_start": req.window_start,
        "window_end": req.window_end,
        "wave_conf": Jsonb(dict(req.wave_conf)) if req.wave_conf is not None else None,
    }


def write_trigger_row(conn: Conn, req: TriggerRequest, requested_by: str) -> int:
    """Insert a pending request (source 'table'); return its trigger id."""
    with conn.transaction():
        row = conn.execute(load_sql("flowchart_insert"), _insert_params(req, "table", None, requested_by)).fetchone()
    assert row is not None  # no source_ref: no conflict possible
    return int(row[0])


def insert_file_request(conn: Conn, req: TriggerRequest, file_name: str, requested_by: str) -> int | None:
    """Insert the pending request of drop file ``file_name``; None when that file already has its row."""
    with conn.transaction():
        row = conn.execute(
            load_sql("flowchart_insert"), _insert_params(req, "file", file_name, requested_by)).fetchone()
    return None if row is None else int(row[0])


def insert_rejected_file(conn: Conn, file_name: str, message: str) -> None:
    """Record drop file ``file_name`` as ``rejected`` with the reason (once per file name)."""
    with conn.transaction():
        conn.execute(load_sql("flowchart_insert_rejected"),
                     {"source_ref": file_name, "requested_by": "drop folder", "message": message})


def pending_count(conn: Conn) -> int:
    with conn.transaction():
        row = conn.execute(PENDING_COUNT_SQL).fetchone()
    return int(row[0]) if row else 0


def _claimed_from_row(row: Sequence[Any]) -> ClaimedTrigger:
    trigger_id, source, source_ref, requested_by, run_tracking, names, start, end, wave_conf = row
    return ClaimedTrigger(
        trigger_id=int(trigger_id),
        source=str(source),
        source_ref=source_ref,
        requested_by=str(requested_by),
        request=TriggerRequest(
            mailing_names=tuple(names or ()), window_start=start, window_end=end,
            run_tracking=bool(run_tracking), wave_conf=wave_conf,
        ),
    )


def claim_pending(
    conn: Conn, claimed_by: str, limit: int = 20, *, reclaim_after: timedelta = timedelta(hours=1)
) -> list[ClaimedTrigger]:
    """Claim up to ``limit`` pending requests (oldest first) for ``claimed_by``, exactly once across claimers.

    A row that fails validation (rows may be written by hand or by a flowchart's own SQL) is set
    to ``rejected`` with the reason, in the same transaction, and is not returned.
    """
    claimed: list[ClaimedTrigger] = []
    with conn.transaction():
        rows = conn.execute(
            load_sql("flowchart_claim"), {"me": claimed_by, "stale": reclaim_after, "limit": limit}).fetchall()
        for row in sorted(rows, key=lambda r: int(r[0])):
            try:
                claimed.append(_claimed_from_row(row))
            except InvalidTrigger as exc:
                conn.execute(load_sql("flowchart_reject"), {"message": str(exc), "id": row[0]})
    return claimed


def claimed_by(conn: Conn, claimer: str) -> list[ClaimedTrigger]:
    """Requests ``claimer`` holds and has not started yet (e.g. claimed by an earlier try of the same task)."""
    with conn.transaction():
        rows = conn.execute(load_sql("flowchart_claimed_by"), {"claimer": claimer}).fetchall()
    return [_claimed_from_row(r) for r in rows]


def record_started(
    conn: Conn, trigger_id: int, dag_run_ids: Mapping[str, str], *, not_started: Sequence[str] = ()
) -> bool:
    """Record the runs a request started (dag_id → run_id); dags in ``not_started`` count as failed runs."""
    message = f"could not start {', '.join(not_started)}" if not_started else None
    with conn.transaction():
        cur = conn.execute(load_sql("flowchart_record_started"), {
            "run_ids": Jsonb(dict(dag_run_ids)), "not_started": Jsonb(dict.fromkeys(not_started, "not_started")),
            "message": message, "id": trigger_id,
        })
    return cur.rowcount == 1


def record_start_failed(conn: Conn, trigger_id: int, message: str) -> bool:
    """A claimed request none of whose runs could be created ends ``failed``."""
    with conn.transaction():
        cur = conn.execute(load_sql("flowchart_record_start_failed"), {"message": message, "id": trigger_id})
    return cur.rowcount == 1


def record_outcome(conn: Conn, trigger_id: int, run_states: Mapping[str, str]) -> str | None:
    """Record the final states of a started request's runs: ``succeeded`` if all succeeded, else ``failed``.

    Returns the new status, or None when the request was not ``started`` (already recorded).
    """
    with conn.transaction():
        row = conn.execute(
            load_sql("flowchart_record_outcome"), {"states": Jsonb(dict(run_states)), "id": trigger_id}
        ).fetchone()
    return str(row[0]) if row else None


def started_triggers(conn: Conn) -> list[tuple[int, dict[str, str]]]:
    """Requests whose runs were started and whose outcome is not recorded yet: (trigger_id, dag_id → run_id)."""
    with conn.transaction():
        rows = conn.execute(load_sql("flowchart_started")).fetchall()
    return [(int(r[0]), {str(k): str(v) for k, v in dict(r[1]).items()}) for r in rows]
