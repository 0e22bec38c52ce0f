"""Pipeline health, as the dashboard reads it: each window's reconciliation and validation status, one
validation run's results, and the segment sizes per mailing.

Reads small bookkeeping tables only (``load_log``, ``validation_runs``, ``segment_current`` and
``segment_runs``), never the event tables or segment members: a window reconciles as
``report.WindowReconciliation`` defines it, and a segment's size is the one its run recorded when it
completed (what the views ``responders`` / ``non_responders`` show).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from sms_response.errors import SmsResponseError
from sms_response.quality import ExpectationOutcome
from sms_response.report import WindowReconciliation

Conn = psycopg.Connection[TupleRow]

# The latest windows first; each with its latest validation run, if any.
WINDOWS_SQL = """
SELECT l.load_id, l.status, l.downloaded, l.imported, l.duplicates, l.rejected, l.late, l.skipped, l.conflicts,
       l.window_start, l.window_end, l.finished_at, l.message,
       v.validation_id, v.success, v.critical_failures, v.warnings, v.validated_at
FROM load_log l
LEFT JOIN LATERAL (
    SELECT validation_id, success, critical_failures, warnings, validated_at FROM validation_runs r
    WHERE r.load_id = l.load_id ORDER BY validated_at DESC, validation_id DESC LIMIT 1
) v ON true
ORDER BY l.window_start DESC, l.load_id DESC
LIMIT %(limit)s
"""
VALIDATION_SQL = """
SELECT validation_id, load_id, run_id, success, critical_failures, warnings, results, validated_at, duration_ms
FROM validation_runs WHERE validation_id = %(id)s
"""
SEGMENT_SIZES_SQL = """
SELECT c.mailing_name, c.segment_run_id, r.responders, r.non_responders, r.finished_at,
       extract(epoch FROM r.response_window) / 3600 AS response_window_hours
FROM segment_current c JOIN segment_runs r USING (segment_run_id)
ORDER BY c.mailing_name
"""

# A URL's password (an exception message in a sample might quote a connection URL): never shown.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*):\S+@")


class UnknownValidationRun(SmsResponseError):
    """No validation run with that id (a typo, or its window was deleted and reloaded)."""


@dataclass(frozen=True)
class WindowHealth:
    """A window's counts and state (``recon``) with its latest validation run (None: not validated yet)."""

    recon: WindowReconciliation
    window_start: datetime
    window_end: datetime
    finished_at: datetime | None
    message: str | None
    validation_id: int | None
    validation_success: bool | None
    critical_failures: int | None
    warnings: int | None
    validated_at: datetime | None


@dataclass(frozen=True)
class ValidationRun:
    validation_id: int
    load_id: str
    run_id: str | None
    success: bool
    critical_failures: int
    warnings: int
    validated_at: datetime
    duration_ms: int | None
    results: tuple[ExpectationOutcome, ...]


@dataclass(frozen=True)
class SegmentSize:
    mailing_name: str
    segment_run_id: int
    responders: int
    non_responders: int
    finished_at: datetime | None
    response_window_hours: float


def windows(conn: Conn, limit: int = 200) -> list[WindowHealth]:
    """The latest ``limit`` windows, newest first."""
    out = []
    for r in conn.execute(WINDOWS_SQL, {"limit": limit}).fetchall():
        recon = WindowReconciliation(str(r[0]), str(r[1]), *(int(x or 0) for x in r[2:9]))
        out.append(WindowHealth(
            recon, r[9], r[10], r[11], r[12], None if r[13] is None else int(r[13]), r[14],
            None if r[15] is None else int(r[15]), None if r[16] is None else int(r[16]), r[17],
        ))
    return out


def expectation_result(item: dict[str, Any]) -> ExpectationOutcome:
    """One stored outcome (an item of ``validation_runs.results``); a password in an example is masked."""

    def count(key: str) -> int | None:
        value = item.get(key)
        return None if value is None else int(value)

    return ExpectationOutcome(
        suite=str(item.get("suite", "")), expectation=str(item.get("expectation", "")),
        column=None if item.get("column") is None else str(item["column"]),
        severity=str(item.get("severity", "")), success=bool(item.get("success")),
        unexpected_count=count("unexpected_count"), element_count=count("element_count"),
        samples=[_URL_PASSWORD.sub(r"\1:***@", str(s)) for s in item.get("samples") or ()],
    )


def validation(conn: Conn, validation_id: int) -> ValidationRun:
    """One validation run with every expectation's outcome (failures first, then by suite)."""
    row = conn.execute(VALIDATION_SQL, {"id": validation_id}).fetchone()
    if row is None:
        raise UnknownValidationRun(f"no validation run {validation_id}: the pipeline health page lists them")
    raw = row[6] if isinstance(row[6], list) else json.loads(row[6] or "[]")
    results = sorted((expectation_result(dict(i)) for i in raw), key=lambda e: (e.success, e.suite, e.column or ""))
    return ValidationRun(int(row[0]), str(row[1]), row[2], bool(row[3]), int(row[4]), int(row[5]), row[7],
                         None if row[8] is None else int(row[8]), tuple(results))


def segment_sizes(conn: Conn) -> list[SegmentSize]:
    """Responders and non-responders per mailing, as its current segment run recorded them."""
    return [
        SegmentSize(str(r[0]), int(r[1]), int(r[2] or 0), int(r[3] or 0), r[4], float(r[5]))
        for r in conn.execute(SEGMENT_SIZES_SQL).fetchall()
    ]
