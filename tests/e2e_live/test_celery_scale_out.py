"""Scale-out on Airflow's own CeleryExecutor, the topology of docker-compose.yaml, as processes on loopback.

api-server, scheduler, dag-processor, triggerer and two Celery workers (``airflow celery worker
--celery-hostname w1@%h`` / ``w2@%h``), Redis as the broker (127.0.0.1:6379), the metadata database a fresh
``airflow_celery_<random>`` on the PostgreSQL server at 127.0.0.1:5432 (dropped at the end). A backfill of four
hourly windows, three at a time, gives exactly the tables that dag.test() gives for the same windows; a wave's
contact import is polled by the triggerer while no worker slot is held; both workers ran task instances, and
every task instance that ran was executed by one of them.

Without Redis or that PostgreSQL server (a laptop) the test is skipped; under CI (``CI`` set) it fails instead.
``SMS_RT_CELERY_METADATA_URL`` and ``SMS_RT_CELERY_BROKER_URL`` point it elsewhere.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from sms_response import migrate
from sms_response.db import connect, drop_schema
from sms_response.report import fingerprint, reconciliation
from sms_rt_airflow.local_stack import AirflowStack, CeleryConfig, StackConfig

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.once]

METADATA_SERVER = os.environ.get("SMS_RT_CELERY_METADATA_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("SMS_RT_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
DAG_ID = "sms_response_tracking"
WAVE_DAG_ID = "sms_campaign_wave"
CAMPAIGN_START = datetime(2026, 11, 20, 9, tzinfo=UTC)
H = timedelta(hours=1)
HOURS = 4
WORKERS = ("w1", "w2")


def services_missing() -> str | None:
    """Why the stack cannot start here (None when Redis and the metadata server answer)."""
    broker = urlsplit(BROKER_URL)
    try:
        with socket.create_connection((broker.hostname or "127.0.0.1", broker.port or 6379), timeout=3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                return f"the broker at {broker.hostname}:{broker.port} is not Redis"
    except OSError as exc:
        return f"no Redis broker at {broker.hostname}:{broker.port} ({exc})"
    try:
        psycopg.connect(METADATA_SERVER, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server for the metadata database ({str(exc).strip().splitlines()[0]})"
    return None


@pytest.fixture(scope="module")
def celery_simulator(sim_token: str) -> Iterator[Any]:
    """The live tests' seeded campaign in a server of this module's own: the wave's pushes stay here."""
    from sms_simulator import SimulatorConfig, SimulatorServer, build_state

    cfg = SimulatorConfig(seed=11, recipients=300, mailings=2, campaign_start=CAMPAIGN_START,
                          duplicate_rate=0.02, malformed_rate=0.02, late_rate=0.05, multi_event_rate=0.02)
    with SimulatorServer(build_state(cfg), token=sim_token) as sim:
        yield sim


def live_airflow_class(request: pytest.FixtureRequest) -> Any:
    """``LiveAirflow`` (the REST helpers of this folder's conftest), from the conftest module pytest loaded."""
    conftest = str(Path(__file__).with_name("conftest.py"))
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == conftest:
            return plugin.LiveAirflow
    raise RuntimeError(f"{conftest} is not loaded")


@pytest.fixture(scope="module")
def celery_airflow(
    request: pytest.FixtureRequest, pg_url: str, celery_simulator: Any, sim_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """A CeleryExecutor stack with two workers whose tasks load into a fresh schema."""
    from airflow_client.client import PoolApi, PoolBody

    missing = services_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CeleryExecutor stack: {missing}")
        pytest.skip(f"CeleryExecutor stack: {missing}")
    schema = f"celery_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, schema)
    work = tmp_path_factory.mktemp("celery")
    host, port = celery_simulator.base_url.removeprefix("http://").split(":")
    conn = json.dumps({"conn_type": "sms_platform", "host": host, "port": int(port), "schema": "http",
                       "password": sim_token})
    env = {
        "AIRFLOW_CONN_SMS_PLATFORM": conn,
        "SMS_RT_DATABASE_URL": pg_url,
        "SMS_RT_SCHEMA": schema,
        "SMS_RT_LANDING_DIR": str(work / "landing"),  # shared by both workers, as a volume would be
        "SMS_RT_DATA_DOCS_DIR": str(work / "data_docs"),
        "SMS_RT_END_DATE": (CAMPAIGN_START + HOURS * H).isoformat(),  # unpausing schedules no run for "now"
    }
    stack = AirflowStack(StackConfig(
        server_url=METADATA_SERVER, env=env, parallelism=8, home=work / "airflow", db_prefix="airflow_celery",
        celery=CeleryConfig(broker_url=BROKER_URL, workers=WORKERS, concurrency=2),
    ))
    t0 = time.monotonic()
    try:
        with stack, stack.api_client() as api:
            live = live_airflow_class(request)(stack=stack, api=api, pg_url=pg_url, schema=schema,
                                               simulator=celery_simulator, platform_conn=conn)
            live.timings["stack_start_s"] = time.monotonic() - t0
            PoolApi(api).post_pool(PoolBody(name="sms_platform_api", slots=2, description="SMS platform event API"))
            yield live
        assert stack.leftover_processes() == [], "Airflow processes left after the stack stopped"
        with psycopg.connect(METADATA_SERVER) as check:
            assert check.execute("SELECT 1 FROM pg_database WHERE datname = %s", (stack.db_name,)).fetchone() is None
        import redis

        broker = redis.Redis.from_url(BROKER_URL)
        assert list(broker.scan_iter(match=f"{stack.db_name}:*")) == [], "keys left on the broker"
        broker.close()
        print(f"\ncelery stack: start {live.timings['stack_start_s']:.1f} s, stop {stack.timings['stop_s']:.1f} s")
    finally:
        drop_schema(pg_url, schema)


def reference_fingerprint(live: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """The same windows, in order, with dag.test() into a fresh schema (over the same simulator)."""
    from airflow.dag_processing.dagbag import DagBag

    schema = f"ref_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(live.pg_url, schema)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", live.platform_conn)
        monkeypatch.setenv("SMS_RT_DATABASE_URL", live.pg_url)
        monkeypatch.setenv("SMS_RT_SCHEMA", schema)
        monkeypatch.setenv("SMS_RT_LANDING_DIR", str(tmp_path / "ref-landing"))
        monkeypatch.setenv("SMS_RT_DATA_DOCS_DIR", str(tmp_path / "ref-docs"))
        dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[DAG_ID]
        for i in range(HOURS):
            dr = dag.test(logical_date=CAMPAIGN_START + (i + 1) * H)  # the data interval [T - 1h, T)
            assert str(dr.state).endswith("success"), f"reference window {i} ended {dr.state}"
        with connect(live.pg_url, schema) as conn:
            return fingerprint(conn)
    finally:
        drop_schema(live.pg_url, schema)


def wave_conf() -> dict[str, Any]:
    return {"campaign_code": "SCALE", "source_mailing": "SEED_Offer_20261120090000", "segment": "non_responders",
            "wave_name": "Reminder", "template": "Hi {given_name}: 20% off today https://shop.example/sale",
            "sample_size": 5, "sample_threshold": 0.5, "sample_wait_minutes": 0, "batch_size": 10,
            "quiet_hours_start": "00:00", "quiet_hours_end": "23:59", "refresh_consent": False,
            "exclude_hard_failures": False}


def ran_task_instances(live: Any) -> set[tuple[str, str, str]]:
    """(dag, task, run) of every task instance that started, from the metadata DB."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = make_conninfo(**{**conninfo_to_dict(METADATA_SERVER), "dbname": live.stack.db_name})
    with psycopg.connect(url) as meta:
        rows = meta.execute("SELECT dag_id, task_id, run_id FROM task_instance WHERE start_date IS NOT NULL")
        return {(d, t, r) for d, t, r in rows}


def test_two_celery_workers_share_a_parallel_backfill_and_a_deferred_wave_with_the_dag_test_tables(
    celery_airflow: Any, airflow_db: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from airflow_client.client import BackfillPostBody, ReprocessBehavior
    from wave_fixtures import known_phones, seed_contacts, seed_segment, sent_per_phone

    live = celery_airflow
    t0 = time.monotonic()
    live.unpause(DAG_ID)

    # Four hourly windows, three at a time: the scheduler queues their tasks on the broker, two workers
    # of two slots each take them.
    body = BackfillPostBody(dag_id=DAG_ID, from_date=CAMPAIGN_START, to_date=CAMPAIGN_START + (HOURS - 1) * H,
                            max_active_runs=3, reprocess_behavior=ReprocessBehavior.NONE)
    backfill = live.backfills.create_backfill(body)
    # Meanwhile (the stack works in its own processes) the reference, window after window with dag.test().
    reference = reference_fingerprint(live, monkeypatch, tmp_path)
    t_reference = time.monotonic()
    runs = live.wait_for_backfill(backfill, timeout=360)
    t_backfill = time.monotonic()
    assert [r.data_interval_start for r in runs] == [CAMPAIGN_START + i * H for i in range(HOURS)]
    with live.connect() as conn:
        recon = reconciliation(conn)
        assert all(x.status == "published" and x.reconciles for x in recon) and len(recon) == HOURS
        assert fingerprint(conn) == reference

    # A wave: update_profiles_sample's contact import is polled by ContactImportTrigger in the triggerer.
    phones = known_phones(live.simulator)[:30]
    with live.connect() as conn:
        conn.autocommit = True
        seed_segment(conn, "SEED_Offer_20261120090000", dict.fromkeys(phones, "non_responders"))
        seed_contacts(conn, phones)
    live.unpause(WAVE_DAG_ID)
    live.trigger(WAVE_DAG_ID, wave_conf(), run_id="celery_wave")
    live.wait_for_run(WAVE_DAG_ID, "celery_wave", timeout=300)
    t_wave = time.monotonic()
    with live.connect() as conn:
        mailing, status = conn.execute("SELECT mailing_name, status FROM wave_runs WHERE request_key = %s",
                                       (f"{WAVE_DAG_ID}/celery_wave",)).fetchone() or (None, None)
    assert status == "completed"
    assert set(sent_per_phone(live.simulator.push.send_counts(), str(mailing)).values()) == {1}
    task_dir = (live.stack.home / "logs" / f"dag_id={WAVE_DAG_ID}" / "run_id=celery_wave"
                / "task_id=update_profiles_sample")
    assert "Pausing task as DEFERRED" in (task_dir / "attempt=1.log").read_text(errors="replace")
    trigger_logs = [p.read_text(errors="replace") for p in task_dir.glob("attempt=*.log.trigger.*.log")]
    assert any("Trigger fired event" in t and "'status': 'Completed'" in t for t in trigger_logs), trigger_logs

    # Both workers ran task instances, and every attempt that started was executed by one of them (a
    # deferred task is executed twice: before it defers and when the trigger fires).
    executed = live.stack.executed_workloads()
    per_worker = Counter(w.worker for w in executed)
    assert set(per_worker) == set(WORKERS) and min(per_worker.values()) >= 3, per_worker
    started = ran_task_instances(live)
    assert {(w.dag_id, w.task_id, w.run_id) for w in executed} == started
    deferred = [w for w in executed if w.task_id == "update_profiles_sample"]
    assert len(deferred) == 2, deferred

    timings = {"backfill_s": t_backfill - t0, "reference_s": t_reference - t0, "wave_s": t_wave - t_backfill}
    print(f"\ncelery scale-out: {len(started)} task instances, per worker {dict(per_worker)}; "
          + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def test_the_api_server_serves_the_sms_platform_form_and_the_dashboard_from_the_entry_points(
    celery_airflow: Any,
) -> None:
    """The UI's connection form for ``sms_platform`` (labelled extras, the token as the password field) and the
    dashboard plugin come from the installed package's entry points, with no plugin import error."""
    import urllib.request

    def get(path: str) -> Any:
        req = urllib.request.Request(celery_airflow.stack.base_url + path,
                                     headers={"Authorization": f"Bearer {celery_airflow.stack.token()}"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.load(answer)

    [form] = [m for m in get("/ui/connections/hook_meta") if m["connection_type"] == "sms_platform"]
    assert form["hook_name"] == "SMS platform"
    assert form["standard_fields"]["password"]["title"].startswith("API token")
    assert form["standard_fields"]["host"]["title"] == "Base URL or host"
    extras = form["extra_fields"]
    assert extras["platform"]["schema"]["enum"] == ["simulator", "ubx", "twilio", "braze"]
    assert {"timeout_connect", "timeout_read", "retries", "short_link_base", "events_dir", "bucket"} <= set(extras)
    assert all(field["schema"]["title"] for field in extras.values())
    plugins = get("/api/v2/plugins")["plugins"]
    [dashboard] = [p for p in plugins if p["name"] == "sms_campaign_dashboard"]
    assert "EntryPoint" in dashboard["source"] and "sms-response-tracking" in dashboard["source"]
    assert get("/api/v2/plugins/importErrors")["total_entries"] == 0
