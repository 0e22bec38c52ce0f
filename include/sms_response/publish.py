"""Window states in ``load_log``: imported → validated | failed_validation → published.

Only published windows feed segments and waves. A rerun of a window re-imports it (state back
to ``imported``) and must pass validation again before it is published.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from sms_response.errors import SmsResponseError
from sms_response.quality import ValidationReport
from sms_response.sqlfiles import load_sql

Conn = psycopg.Connection[TupleRow]

IMPORTED, VALIDATED, FAILED_VALIDATION, PUBLISHED = "imported", "validated", "failed_validation", "published"


class WindowStateError(SmsResponseError):
    """A window is not in the state a step needs (e.g. publishing an unvalidated window)."""


def record_validation(conn: Conn, report: ValidationReport, run_id: str | None) -> str:
    """Store the report in ``validation_runs`` and move the window to validated / failed_validation."""
    status = VALIDATED if report.success else FAILED_VALIDATION
    with conn.transaction():
        row = conn.execute("SELECT status FROM load_log WHERE load_id = %s FOR UPDATE", (report.load_id,)).fetchone()
        if row is None:
            raise WindowStateError(f"window {report.load_id} has no load_log row: import it first")
        if row[0] not in (IMPORTED, VALIDATED, FAILED_VALIDATION, PUBLISHED):
            raise WindowStateError(f"window {report.load_id} is {row[0]}; only imported windows can be validated")
        conn.execute(
            "INSERT INTO validation_runs (load_id, run_id, success, critical_failures, warnings, results, "
            "data_docs_path, duration_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (report.load_id, run_id, report.success, len(report.critical_failures), len(report.warnings),
             json.dumps(report.as_json(), default=str), report.data_docs, int(report.seconds * 1000)),
        )
        message = None if report.success else "; ".join(o.describe() for o in report.critical_failures)[:2000]
        conn.execute("UPDATE load_log SET status = %s, message = %s WHERE load_id = %s",
                     (status, message, report.load_id))
    return status


def publish_window(conn: Conn, load_id: str) -> dict[str, Any]:
    """Mark a validated window published; return the Asset event's extra (window, mailings, counts)."""
    with conn.transaction():
        row = conn.execute(
            "SELECT status, window_start, window_end, imported_sent, imported_interactions, duplicates, rejected, late "
            "FROM load_log WHERE load_id = %s FOR UPDATE",
            (load_id,),
        ).fetchone()
        if row is None:
            raise WindowStateError(f"window {load_id} has no load_log row")
        if row[0] not in (VALIDATED, PUBLISHED):
            raise WindowStateError(f"window {load_id} is {row[0]}, not validated: it cannot be published")
        conn.execute("UPDATE load_log SET status = %s WHERE load_id = %s", (PUBLISHED, load_id))
        # The mailings of the window's rows and of the rows its last reloads removed (load_log.mailings).
        mailings = [str(r[0]) for r in conn.execute(load_sql("published_window_mailings"), {"load_id": load_id})]
    keys = ("sent", "interactions", "duplicates", "rejected", "late")
    return {
        "load_id": load_id,
        "window_start": row[1].isoformat(),
        "window_end": row[2].isoformat(),
        "mailings": mailings,
        "counts": {k: int(v or 0) for k, v in zip(keys, row[3:], strict=True)},
    }
