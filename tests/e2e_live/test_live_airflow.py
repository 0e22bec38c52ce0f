"""A real Airflow 3 stack (scheduler + LocalExecutor, api-server, dag-processor, triggerer) driven over REST.

A REST-triggered run and a backfill of four hourly windows give exactly the tables that dag.test()
gives for the same windows; reprocessing the completed backfill changes no row; a flowchart's
trigger row, claimed by the deferred sensor of ``unica_flowchart_trigger`` (triggerer), becomes a
run that reprocesses a window without changing a row; a bad conf is refused at trigger time (400)
or by validate_conf, before anything is downloaded or written.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sms_response import migrate
from sms_response.db import connect, drop_schema
from sms_response.report import fingerprint, reconciliation
from sms_response.trigger.request import TriggerRequest
from sms_response.trigger.store import write_trigger_row

pytestmark = [pytest.mark.e2e, pytest.mark.live]
DAG_ID = "sms_response_tracking"
CAMPAIGN_START = datetime(2026, 11, 20, 9, tzinfo=UTC)  # the simulator's campaign (conftest)
H = timedelta(hours=1)
LIVE_HOURS = 4  # windows backfilled; the stack's DAG end_date is CAMPAIGN_START + LIVE_HOURS hours


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def window_id(start: datetime) -> str:
    return f"{start:%Y%m%dT%H%M%SZ}-{start + H:%Y%m%dT%H%M%SZ}"


def reference_fingerprint(live: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """The same windows, in order, with dag.test() into a fresh schema."""
    from airflow.dag_processing.dagbag import DagBag

    schema = f"ref_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, schema)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", live.platform_conn)
        monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)
        monkeypatch.setenv("SMS_RT_SCHEMA", schema)
        monkeypatch.setenv("SMS_RT_LANDING_DIR", str(tmp_path / "ref-landing"))
        monkeypatch.setenv("SMS_RT_DATA_DOCS_DIR", str(tmp_path / "ref-docs"))
        dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[DAG_ID]
        for i in range(LIVE_HOURS):
            # a dag.test() run at T processes the data interval [T - 1h, T)
            dr = dag.test(logical_date=CAMPAIGN_START + (i + 1) * H)
            assert str(dr.state).endswith("success"), f"reference window {i} ended {dr.state}"
        with connect(pg_url, schema) as conn:
            return fingerprint(conn)
    finally:
        drop_schema(pg_url, schema)


def test_rest_trigger_and_backfill_give_the_dag_test_tables_and_reprocessing_changes_nothing(
    live_airflow: Any, airflow_db: None, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from airflow_client.client import BackfillPostBody, ReprocessBehavior
    from airflow_client.client.exceptions import BadRequestException

    live = live_airflow
    t0 = time.monotonic()
    live.unpause(DAG_ID)
    with live.connect() as conn:
        empty = fingerprint(conn)
    first_hour = {"window_start": iso(CAMPAIGN_START), "window_end": iso(CAMPAIGN_START + H)}

    # Wrong types never become a run: Airflow checks the Params' JSON schema at trigger time.
    with pytest.raises(BadRequestException) as refused:
        live.trigger(DAG_ID, {**first_hour, "window_start": "2026-11-20T09:00:00"})
    assert refused.value.status == 400 and "Invalid input for param window_start" in str(refused.value.body)

    # An unknown key passes Airflow (Params cannot forbid extra keys); validate_conf fails the run
    # before the platform is called or a table is touched.
    requests_before = live.simulator.stats()["requests"]
    bad = live.trigger(DAG_ID, {**first_hour, "dry_run": True}, run_id="live_unknown_key")
    live.wait_for_run(DAG_ID, bad.dag_run_id, expect="failed")
    states = live.task_states(DAG_ID, bad.dag_run_id)
    assert states.pop("validate_conf") == "failed" and set(states.values()) == {"upstream_failed"}, states
    assert "unknown key(s) 'dry_run'" in live.task_log(DAG_ID, bad.dag_run_id, "validate_conf")
    assert live.simulator.stats()["requests"] == requests_before
    with live.connect() as conn:
        assert fingerprint(conn) == empty

    # (a) a REST-triggered run (logical_date null, the window in its conf), as an upstream system sends it.
    run = live.trigger(DAG_ID, first_hour, run_id="live_conf_0900")
    assert run.logical_date is None
    live.wait_for_run(DAG_ID, run.dag_run_id)
    with live.connect() as conn:
        [r] = reconciliation(conn)
    assert (r.load_id, r.status, r.reconciles) == (window_id(CAMPAIGN_START), "published", True)
    t_trigger = time.monotonic()

    # (b) a backfill of four hourly windows: logical dates 09:00 … 12:00 are the intervals [09, 10) … [12, 13).
    # Three runs at a time, so windows load out of order, while dag.test() below loads them in order: an
    # event re-delivered in a later window still ends in the earliest window that holds it.
    body = BackfillPostBody(dag_id=DAG_ID, from_date=CAMPAIGN_START, to_date=CAMPAIGN_START + (LIVE_HOURS - 1) * H,
                            max_active_runs=3, reprocess_behavior=ReprocessBehavior.NONE)
    dry = live.backfills.create_backfill_dry_run(body)
    assert dry.total_entries == LIVE_HOURS
    backfill = live.backfills.create_backfill(body)

    # (c) meanwhile (the stack works in its own processes), the same windows with dag.test() into a
    # fresh schema: the reference.
    reference = reference_fingerprint(live, pg_url, monkeypatch, tmp_path)
    t_reference = time.monotonic()

    runs = live.wait_for_backfill(backfill, timeout=240)
    assert [r.data_interval_start for r in runs] == [CAMPAIGN_START + i * H for i in range(LIVE_HOURS)]
    t_backfill = time.monotonic()
    with live.connect() as conn:
        live_tables = fingerprint(conn)
        recon = reconciliation(conn)
        attempts = dict(conn.execute("SELECT load_id, attempts FROM load_log").fetchall())
    assert [x.load_id for x in recon] == [window_id(CAMPAIGN_START + i * H) for i in range(LIVE_HOURS)]
    assert all(x.status == "published" and x.reconciles for x in recon)
    assert attempts[window_id(CAMPAIGN_START)] == 2  # the triggered run and the backfill run
    assert sum(x.downloaded for x in recon) > 0 and any(x.duplicates for x in recon)
    assert live_tables == reference

    # Reprocessing the completed windows (several at once now) changes no row.
    again = live.backfills.create_backfill(body.model_copy(update={
        "reprocess_behavior": ReprocessBehavior.COMPLETED}))
    rerun = live.wait_for_backfill(again, timeout=180)
    assert {r.dag_run_id for r in rerun} == {r.dag_run_id for r in runs}
    with live.connect() as conn:
        assert fingerprint(conn) == live_tables
        attempts = dict(conn.execute("SELECT load_id, attempts FROM load_log").fetchall())
    assert attempts[window_id(CAMPAIGN_START + H)] == 2

    t_reprocess = time.monotonic()

    # (d) the flowchart calls its trigger: a row in flowchart_triggers. The continuous listener's sensor
    # is deferred in the triggerer; it wakes, claims the row and starts run flowchart__<id>.
    live.unpause("unica_flowchart_trigger")
    last = CAMPAIGN_START + (LIVE_HOURS - 1) * H
    with live.connect() as conn:
        trigger_id = write_trigger_row(conn, TriggerRequest([], last, last + H), "flowchart:live-test")
    flowchart_run = live.wait_for_run(DAG_ID, f"flowchart__{trigger_id}", timeout=240)
    assert flowchart_run.conf == {"window_start": last.isoformat(), "window_end": (last + H).isoformat()}
    with live.connect() as conn:
        status, run_ids = conn.execute("SELECT status, dag_run_ids FROM flowchart_triggers WHERE trigger_id = %s",
                                       (trigger_id,)).fetchone() or (None, None)
        assert fingerprint(conn) == live_tables  # a reprocessed window: the same rows
        attempts = dict(conn.execute("SELECT load_id, attempts FROM load_log").fetchall())
    assert status in ("started", "succeeded") and run_ids == {DAG_ID: f"flowchart__{trigger_id}"}
    assert attempts[window_id(last)] == 3  # backfill, reprocess, flowchart

    live.timings.update({
        "trigger_runs_s": t_trigger - t0, "reference_s": t_reference - t_trigger,
        "backfill_s": t_backfill - t_trigger, "reprocess_s": t_reprocess - t_backfill,
        "flowchart_s": time.monotonic() - t_reprocess,
    })
    print("\nlive timings: " + ", ".join(f"{k} {v:.1f}" for k, v in live.timings.items()))


def test_a_rest_triggered_wave_runs_on_the_scheduler_with_its_import_polled_in_the_triggerer(
    live_airflow: Any,
) -> None:
    """sms_campaign_wave triggered over REST: the contact import is polled by ContactImportTrigger in the
    real triggerer (the token comes from the connection there, never from the trigger's kwargs), and every
    recipient is texted exactly once."""
    from wave_fixtures import known_phones, seed_contacts, seed_segment, sent_per_phone

    live = live_airflow
    phones = known_phones(live.simulator)[:30]
    with live.connect() as conn:
        conn.autocommit = True
        seed_segment(conn, "SEED_Offer_20261120090000", dict.fromkeys(phones, "non_responders"))
        seed_contacts(conn, phones)
    live.unpause("sms_campaign_wave")
    conf = {"campaign_code": "LIVE", "source_mailing": "SEED_Offer_20261120090000", "segment": "non_responders",
            "wave_name": "Reminder", "template": "Hi {given_name}: 20% off today https://shop.example/sale",
            "sample_size": 5, "sample_threshold": 0.5, "sample_wait_minutes": 0, "batch_size": 10,
            "quiet_hours_start": "00:00", "quiet_hours_end": "23:59", "refresh_consent": False,
            # The module's earlier tests imported the campaign, hard failures included; this test is about the
            # trigger mechanics (exclusions have their own property test), so every seeded phone is texted.
            "exclude_hard_failures": False}
    t0 = time.monotonic()
    live.trigger("sms_campaign_wave", conf, run_id="live_wave")
    live.wait_for_run("sms_campaign_wave", "live_wave", timeout=240)
    states = live.task_states("sms_campaign_wave", "live_wave")
    assert set(states.values()) == {"success"}, states
    with live.connect() as conn:
        mailing, status = conn.execute(
            "SELECT mailing_name, status FROM wave_runs WHERE request_key = %s",
            ("sms_campaign_wave/live_wave",)).fetchone() or (None, None)
        imports = conn.execute("SELECT phase, status, import_id IS NOT NULL FROM wave_profile_imports "
                               "WHERE mailing_name = %s ORDER BY phase DESC", (mailing,)).fetchall()
    assert status == "completed" and str(mailing).startswith("LIVE_Reminder_")
    assert imports == [("sample", "completed", True), ("full", "completed", True)]
    counts = sent_per_phone(live.simulator.push.send_counts(), str(mailing))
    assert set(counts) == set(phones) and set(counts.values()) == {1}
    # The import was waited for in the triggerer, not in a worker slot; no secret reached its log.
    run_dir = live.stack.home / "logs" / "dag_id=sms_campaign_wave" / "run_id=live_wave"
    task_dir = run_dir / "task_id=update_profiles_sample"
    trigger_logs = [p.read_text(errors="replace") for p in task_dir.glob("attempt=*.log.trigger.*.log")]
    assert any("Trigger fired event" in t and "'status': 'Completed'" in t for t in trigger_logs), trigger_logs
    assert "Pausing task as DEFERRED" in (task_dir / "attempt=1.log").read_text(errors="replace")
    token = json.loads(live.platform_conn)["password"]
    assert not any(token in t for t in trigger_logs)
    live.timings["wave_s"] = time.monotonic() - t0
    print(f"\nlive wave: {live.timings['wave_s']:.1f} s")
