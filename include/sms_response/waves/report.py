"""The wave report: a wave's run row and its recipients counted by status (``sms-rt wave``, the DAG's last task)."""

from __future__ import annotations

from typing import Any

from sms_response.sqlfiles import load_sql
from sms_response.waves.request import WaveError
from sms_response.waves.store import Conn


def wave_report(conn: Conn, mailing: str) -> dict[str, Any]:
    row = conn.execute(load_sql("wave_report_run"), {"mailing": mailing}).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    by_status: dict[str, int] = dict(conn.execute(
        load_sql("wave_recipients_by_status"), {"mailing": mailing},
    ).fetchall())
    return {"mailing_name": mailing, "status": row[0], "reason": row[1], "winner": row[2], "audience": row[3],
            "holdout": row[4], "dropped_unknown": row[5], "sample": row[6], "recipients_by_status": by_status}
