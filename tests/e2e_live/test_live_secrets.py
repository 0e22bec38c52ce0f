"""A real Airflow's task log files hold no API token and no unmasked phone number.

``dag.test()`` runs tasks in-process and writes no log file (``tests/e2e/test_secrets_never_leak.py`` scans what
they print and log there); here the live stack's scheduler runs them through the task supervisor, which writes
``<home>/logs/dag_id=…/…/attempt=N.log`` as in production. After a REST-triggered window of
``sms_response_tracking`` (and whatever the session's other live tests ran), every file under the stack's home (task
logs, trigger logs, the api-server's, scheduler's, dag-processor's and triggerer's own logs, airflow.cfg) is read:
the API token of the ``sms_platform`` connection is in none, and no number of the simulator's recipients appears
in a log in full (E.164, or its digits).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.live]


@pytest.mark.scenario("security", "live Airflow (scheduler, task supervisor): task and component log files hold no "
                                  "API token and no unmasked phone number of a recipient")
def test_live_task_logs_hold_no_token_and_no_unmasked_phone(live_airflow: Any) -> None:
    live = live_airflow
    live.unpause("sms_response_tracking")
    conf = {"window_start": "2026-11-20T09:00:00Z", "window_end": "2026-11-20T13:00:00Z"}
    live.trigger("sms_response_tracking", conf, run_id="live_secrets")
    live.wait_for_run("sms_response_tracking", "live_secrets", timeout=240)

    token = json.loads(live.platform_conn)["password"]
    with live.connect() as conn:
        phones = sorted({str(r[0]) for r in conn.execute(
            "SELECT phone_e164 FROM sms_sent UNION SELECT phone_e164 FROM sms_interactions").fetchall()})
    assert len(phones) > 100
    files = [p for p in live.stack.home.rglob("*") if p.is_file()]
    task_logs = [p for p in files if "dag_id=sms_response_tracking" in str(p) and "run_id=live_secrets" in str(p)]
    assert len(task_logs) >= 5, task_logs  # validate_conf, download, import, validate, publish
    assert "imported" in "".join(p.read_text(errors="replace") for p in task_logs)
    leaks = []
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        where = str(path.relative_to(live.stack.home))
        if token in text:
            leaks.append(f"API token in {where}")
        if path.suffix == ".log" or "logs" in path.parts:
            leaks += [f"phone {p} in {where}" for p in phones if p in text or p[1:] in text]
    assert not leaks, "\n".join(leaks[:40])
