"""The wave report: a wave's run row, its profile imports and its recipients by status (``sms-rt wave``, the DAG's
last task)."""

from __future__ import annotations

from typing import Any

from sms_response.sqlfiles import load_sql
from sms_response.waves.profiles import profile_imports
from sms_response.waves.request import WaveError
from sms_response.waves.store import Conn


def wave_report(conn: Conn, mailing: str) -> dict[str, Any]:
    row = conn.execute(load_sql("wave_report_run"), {"mailing": mailing}).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    by_status: dict[str, int] = dict(conn.execute(
        load_sql("wave_recipients_by_status"), {"mailing": mailing},
    ).fetchall())
    imports = {i.phase: i.to_json() for i in profile_imports(conn, mailing)}
    dropped = [i["dropped_unknown"] for i in imports.values() if i["dropped_unknown"] is not None]
    return {"mailing_name": mailing, "status": row[0], "reason": row[1], "winner": row[2], "audience": row[3],
            "holdout": row[4], "dropped_unknown": sum(dropped) if dropped else None, "sample": row[5],
            "profile_imports": imports, "recipients_by_status": by_status}
