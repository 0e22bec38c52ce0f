"""No secret leaks: the platform's API token and the response database's password, after a full run.

The pipeline runs end to end with ``dag.test()`` against the simulator with a known, unusual API token and a
database role with a known, unusual password (created for the test on the test server, dropped afterwards), once
through the ``sms_rt_postgres`` Airflow connection and once through ``SMS_RT_DATABASE_URL`` (which Airflow's
secrets masker does not know about); then the segments and metrics DAGs, a campaign wave to 30 recipients (contact
imports polled by its trigger, sample and full sends: the platform's push side); then a download with a wrong token
that fails. Afterwards neither secret (nor the wrong token) appears in:

* the task logs (everything the runs printed, every log record's message and traceback as the library emitted it,
  before any masking, and every file under ``$AIRFLOW_HOME/logs``), and the logs the REST API serves;
* the Airflow metadata DB: every XCom value and rendered template field of the runs, the REST API's JSON of the
  runs, task instances and XComs, and every byte of ``$AIRFLOW_HOME`` (SQLite file and journal included);
* the Data Docs, the landing files, and the campaign dashboard's pages (and its 503 page when the database is
  unreachable);
* the error of the failing download (HTTP 401), and the errors of a database that cannot be reached (psycopg,
  Alembic, Great Expectations), tracebacks included.

Phone numbers: no full number of the simulator's recipients (E.164, or its digits) appears in any log or dashboard
page.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dashboard_fixtures import simulator_config
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL

from sms_response.db import connect, drop_schema

pytestmark = [pytest.mark.e2e, pytest.mark.once]

# Unusual enough that any occurrence is a leak, URL-safe so that a URL-encoded leak is the same string.
TOKEN = f"tok-Zx9Q-{secrets.token_hex(8)}-vL7e"
BAD_TOKEN = f"bad-Kq3W-{secrets.token_hex(8)}-rT5u"
PASSWORD = f"pw-Hj8R-{secrets.token_hex(8)}-mN2c"
PASSWORDS = {"viewer": "viewer-pw"}
WINDOWS = ({"window_start": "2026-11-20T08:00:00Z", "window_end": "2026-11-20T12:00:00Z"},
           {"window_start": "2026-11-20T12:00:00Z", "window_end": "2026-11-24T00:00:00Z"})
FAILING_WINDOW = {"window_start": "2026-11-24T00:00:00Z", "window_end": "2026-11-24T01:00:00Z"}
WAVE_SOURCE = "SEED_Offer_20261120090000"
WAVE_CONF = {"campaign_code": "SPRING26", "source_mailing": WAVE_SOURCE, "segment": "non_responders",
             "wave_name": "Secrets", "template": "Hi {given_name}: 20% off today https://shop.example/sale",
             "sample_size": 5, "sample_threshold": 0.5, "sample_wait_minutes": 0, "batch_size": 10,
             "quiet_hours_start": "00:00", "quiet_hours_end": "23:59", "refresh_consent": False,
             "exclude_hard_failures": False}


@dataclass
class Role:
    """A login role with a password, owning the response schema it creates."""

    name: str
    schema: str
    url: str  # postgresql:// URL with the password
    conn_json: str  # AIRFLOW_CONN_SMS_RT_POSTGRES
    admin_url: str

    def admin(self) -> psycopg.Connection[Any]:
        return connect(self.admin_url, self.schema)


@pytest.fixture
def role(pg_url: str) -> Iterator[Role]:
    name = f"sms_rt_sec_{uuid.uuid4().hex[:8]}"
    schema = f"sec_{uuid.uuid4().hex[:10]}"
    parts = {k: str(v) for k, v in conninfo_to_dict(pg_url).items() if v not in (None, "")}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        db = str(conn.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(sql.Identifier(db),
                                                                                  sql.Identifier(name)))
    host = parts.get("host", "127.0.0.1")
    socket = host.startswith("/")
    url = URL.create("postgresql", username=name, password=PASSWORD, host=None if socket else host,
                     port=int(parts["port"]) if parts.get("port") else None, database=db,
                     query={"host": host} if socket else {}).render_as_string(hide_password=False)
    conn_json = json.dumps({"conn_type": "postgres", "host": host, "port": int(parts["port"]) if parts.get("port")
                            else None, "schema": db, "login": name, "password": PASSWORD})
    try:
        yield Role(name, schema, url, conn_json, pg_url)
    finally:
        drop_schema(pg_url, schema)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@dataclass
class Findings:
    """Where each secret or phone number turned up, by surface; and how much of each surface was scanned."""

    secrets: dict[str, str]
    leaks: list[str] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)

    def scan(self, surface: str, text: str | bytes, phones: list[str] | None = None) -> None:
        blob = text if isinstance(text, str) else text.decode("utf-8", "replace")
        self.scanned[surface] = self.scanned.get(surface, 0) + len(blob)
        for what, secret in self.secrets.items():
            if secret in blob:
                at = blob.index(secret)
                self.leaks.append(f"{what} in {surface}: …{blob[max(0, at - 80):at + 40]!r}…")
        for phone in phones or ():
            for form in (phone, phone[1:]):
                if form in blob:
                    at = blob.index(form)
                    self.leaks.append(f"phone {phone} unmasked in {surface}: …{blob[max(0, at - 80):at + 20]!r}…")
                    break

    def scan_tree(self, surface: str, root: Path) -> int:
        files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
        for path in files:
            self.scan(f"{surface} {path.relative_to(root)}", path.read_bytes())
        return len(files)


def run(dag: Any, conf: dict[str, Any]) -> Any:
    return dag.test(run_conf=conf)


def _state(dr: Any) -> str:
    return str(dr.state).removeprefix("DagRunState.").lower()


def _api_json(client: Any, headers: dict[str, str], path: str, findings: Findings) -> Any:
    answer = client.get(path, headers=headers)
    findings.scan(f"REST {path}", answer.text)
    return answer.json() if answer.status_code == 200 else None


def _error_texts(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


@pytest.mark.scenario("security", "a full run with a known API token and database password: neither appears in task "
                                  "logs, XCom, rendered fields, the metadata DB, Data Docs, the dashboard, REST JSON or "
                                  "error messages; recipients' phones never appear unmasked in logs")
def test_no_secret_or_phone_number_leaks_from_a_full_run(
    dagbag: Any, role: Role, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    from sms_simulator import SimulatorServer, build_state

    caplog.set_level(logging.DEBUG)
    findings = Findings({"API token": TOKEN, "wrong API token": BAD_TOKEN, "database password": PASSWORD})
    landing, docs = tmp_path / "landing", tmp_path / "data_docs"
    monkeypatch.setenv("SMS_RT_SCHEMA", role.schema)
    monkeypatch.setenv("SMS_RT_LANDING_DIR", str(landing))
    monkeypatch.setenv("SMS_RT_DATA_DOCS_DIR", str(docs))
    monkeypatch.delenv("SMS_RT_DATABASE_URL", raising=False)
    runs: list[Any] = []
    with SimulatorServer(build_state(simulator_config()), token=TOKEN) as sim:
        host, port = sim.base_url.removeprefix("http://").split(":")

        def platform(token: str) -> None:
            monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(
                {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": token}))

        tracking = dagbag.dags["sms_response_tracking"]
        # 1. the database through the Airflow connection (its password known to Airflow's masker)
        platform(TOKEN)
        monkeypatch.setenv("AIRFLOW_CONN_SMS_RT_POSTGRES", role.conn_json)
        runs.append(run(tracking, WINDOWS[0]))
        # 2. the database through SMS_RT_DATABASE_URL (a URL with the password, unknown to the masker)
        monkeypatch.delenv("AIRFLOW_CONN_SMS_RT_POSTGRES")
        monkeypatch.setenv("SMS_RT_DATABASE_URL", role.url)
        runs.append(run(tracking, WINDOWS[1]))
        assert [_state(dr) for dr in runs] == ["success", "success"]
        with role.admin() as conn:
            mailings = [str(r[0]) for r in conn.execute("SELECT mailing_name FROM mailings ORDER BY 1").fetchall()]
            phones = sorted({str(r[0]) for r in conn.execute(
                "SELECT phone_e164 FROM sms_sent UNION SELECT phone_e164 FROM sms_interactions").fetchall()})
            campaign = str(conn.execute("SELECT campaign_code FROM mailings WHERE campaign_code IS NOT NULL "
                                        "LIMIT 1").fetchone()[0])  # type: ignore[index]
        assert len(phones) > 200 and mailings
        runs.append(run(dagbag.dags["sms_segments_refresh"], {"mailing_names": mailings}))
        assert _state(runs[-1]) == "success"
        # the push side: a wave's contact imports (polled by its trigger) and sends carry the token too
        from wave_fixtures import known_phones, seed_contacts, seed_segment

        wave_phones = known_phones(sim)[:30]
        with role.admin() as conn:
            conn.autocommit = True
            seed_segment(conn, WAVE_SOURCE, dict.fromkeys(wave_phones, "non_responders"))
            seed_contacts(conn, wave_phones)
        runs.append(run(dagbag.dags["sms_campaign_wave"], WAVE_CONF))
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        runs.append(run(tracking, {"window_start": (hour - timedelta(hours=1)).isoformat(),
                                   "window_end": (hour + timedelta(hours=3)).isoformat()}))
        runs.append(run(dagbag.dags["sms_campaign_metrics"], {"mailing_names": [], "full_rebuild": True}))
        assert [_state(dr) for dr in runs[-3:]] == ["success", "success", "success"]
        phones = sorted(set(phones) | set(wave_phones))
        # 3. a download with a wrong token fails, naming the 401
        platform(BAD_TOKEN)
        failed = run(tracking, FAILING_WINDOW)
        assert _state(failed) == "failed"
        runs.append(failed)
        download_state = {ti.task_id: str(ti.state) for ti in failed.get_task_instances()}["download_events"]
        assert "failed" in download_state.lower()
        platform(TOKEN)

        # The library's own errors: a refused token, an unreachable database.
        from sms_response.errors import PlatformAuthError
        from sms_response.platform import SmsPlatformClient
        from sms_response.window import Window

        window = Window(datetime.fromisoformat("2026-11-20T09:00:00+00:00"),
                        datetime.fromisoformat("2026-11-20T10:00:00+00:00"))
        with pytest.raises(PlatformAuthError) as refused:
            next(iter(SmsPlatformClient(sim.base_url, BAD_TOKEN).pages(window)))
        assert "HTTP 401" in str(refused.value)
        findings.scan("the error of a refused download", _error_texts(refused.value))

    unreachable = URL.create("postgresql", username=role.name, password=PASSWORD, host="127.0.0.1", port=1,
                             database="test").render_as_string(hide_password=False)
    db_errors = _database_errors(unreachable, role.schema, tmp_path)
    assert len(db_errors) == 3
    for what, text in db_errors.items():
        findings.scan(f"the error of {what} with the database unreachable", text)

    pages = _dashboard(role, campaign, mailings, findings, monkeypatch, tmp_path, runs, unreachable, phones)
    assert pages >= 8

    # Logs: what the tasks printed (after Airflow's masking), what they logged (before it), and log files.
    out, err = capfd.readouterr()
    assert "HTTP 401" in out + err, "the failing download's error is not in the task log"
    findings.scan("task logs (output)", out + err, phones)
    records = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    findings.scan("log records (as emitted)", records, phones)
    home = Path(os.environ["AIRFLOW_HOME"])
    for path in (home / "logs").rglob("*") if (home / "logs").exists() else []:
        if path.is_file():
            findings.scan(f"log file {path.relative_to(home)}", path.read_bytes(), phones)

    # Airflow metadata: XCom values and rendered fields of these runs, then every byte of AIRFLOW_HOME.
    xcoms, rendered = _metadata(runs, findings)
    assert xcoms >= 10 and rendered >= 5, (xcoms, rendered)
    assert findings.scan_tree("AIRFLOW_HOME", home) >= 1
    assert findings.scan_tree("Data Docs", docs) >= 3
    assert findings.scan_tree("landing files", landing) >= 3

    assert not findings.leaks, "\n".join(findings.leaks)
    assert findings.scanned["task logs (output)"] > 10_000, findings.scanned


def _database_errors(url: str, schema: str, tmp_path: Path) -> dict[str, str]:
    """The errors a user sees when the database cannot be reached, with their tracebacks."""
    from sms_response import migrate
    from sms_response.quality import QualityConfig, validate_window
    from sms_response.window import Window

    window = Window(datetime.fromisoformat("2026-11-20T09:00:00+00:00"),
                    datetime.fromisoformat("2026-11-20T10:00:00+00:00"))
    out: dict[str, str] = {}
    try:
        connect(url, schema)
    except psycopg.Error as exc:
        out["psycopg"] = _error_texts(exc)
    try:
        migrate.upgrade(url, schema)
    except Exception as exc:
        out["the migration"] = _error_texts(exc)
    try:
        report = validate_window(url, schema, window, QualityConfig(data_docs_dir=tmp_path / "docs_down"))
        out["the quality gate"] = json.dumps(report.as_json(), default=str)
    except Exception as exc:
        out["the quality gate"] = _error_texts(exc)
    return out


def _metadata(runs: list[Any], findings: Findings) -> tuple[int, int]:
    from airflow import settings
    from sqlalchemy import text

    run_ids = [dr.run_id for dr in runs]
    with settings.engine.connect() as conn:
        xcoms = conn.execute(text("SELECT dag_id, run_id, task_id, key, value FROM xcom")).fetchall()
        rendered = conn.execute(text("SELECT dag_id, run_id, task_id, rendered_fields FROM "
                                     "rendered_task_instance_fields")).fetchall()
        conf = conn.execute(text("SELECT dag_id, run_id, conf FROM dag_run")).fetchall()
    mine = [x for x in xcoms if x.run_id in run_ids]
    for x in mine:
        findings.scan(f"XCom {x.dag_id}/{x.run_id}/{x.task_id}/{x.key}", str(x.value))
    mine_rendered = [r for r in rendered if r.run_id in run_ids]
    for r in mine_rendered:
        findings.scan(f"rendered fields {r.dag_id}/{r.run_id}/{r.task_id}", str(r.rendered_fields))
    for c in conf:
        if c.run_id in run_ids:
            findings.scan(f"dag_run.conf {c.dag_id}/{c.run_id}", str(c.conf))
    return len(mine), len(mine_rendered)


def _dashboard(role: Role, campaign: str, mailings: list[str], findings: Findings, monkeypatch: pytest.MonkeyPatch,
               tmp_path: Path, runs: list[Any], unreachable: str, phones: list[str]) -> int:
    """The dashboard's pages and the REST API's JSON of the runs (task instances, XComs, logs), as a viewer."""
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "viewer:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    purge_cached_app()
    fetched = 0
    try:
        with TestClient(create_app("core")) as client:
            answer = client.post("/auth/token", json={"username": "viewer", "password": PASSWORDS["viewer"]})
            assert answer.status_code == 201, answer.text
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            paths = ["/sms-rt/", f"/sms-rt/campaigns/{campaign}", "/sms-rt/health"]
            for m in mailings:
                paths += [f"/sms-rt/mailings/{m}", *(f"/sms-rt/mailings/{m}/{tab}" for tab in (
                    "links", "actions", "failures", "inbox"))]
            with role.admin() as conn:
                validations = [int(r[0]) for r in conn.execute("SELECT validation_id FROM validation_runs").fetchall()]
                waves = [str(r[0]) for r in conn.execute("SELECT mailing_name FROM wave_runs").fetchall()]
            paths += [f"/sms-rt/health/validations/{v}" for v in validations]
            paths += [f"/sms-rt/waves/{w}" for w in waves] + [f"/sms-rt/mailings/{w}/links" for w in waves]
            paths += [f"/sms-rt/runs/{dr.dag_id}/{dr.run_id}" for dr in runs if dr.dag_id == "sms_campaign_wave"]
            for path in paths:
                page = client.get(path, headers=headers)
                assert page.status_code == 200, (path, page.status_code)
                findings.scan(f"dashboard {path}", page.text, phones)
                fetched += 1
            for dr in runs:
                base = f"/api/v2/dags/{dr.dag_id}/dagRuns/{dr.run_id}"
                _api_json(client, headers, base, findings)
                tis = _api_json(client, headers, f"{base}/taskInstances", findings) or {}
                for ti in tis.get("task_instances", []):
                    tid = ti["task_id"]
                    entries = _api_json(client, headers, f"{base}/taskInstances/{tid}/xcomEntries", findings) or {}
                    for entry in entries.get("xcom_entries", []):
                        _api_json(client, headers, f"{base}/taskInstances/{tid}/xcomEntries/{entry['key']}", findings)
                    for attempt in range(1, int(ti.get("try_number") or 1) + 1):
                        _api_json(client, headers, f"{base}/taskInstances/{tid}/logs/{attempt}?full_content=true",
                                  findings)
            _api_json(client, headers, "/api/v2/connections", findings)
            _api_json(client, headers, "/api/v2/variables", findings)
            # The database unreachable: a short 503 page, naming nothing of the URL.
            monkeypatch.setenv("SMS_RT_DATABASE_URL", unreachable)
            down = client.get("/sms-rt/", headers=headers)
            assert down.status_code == 503
            findings.scan("the dashboard's 503 page", down.text)
            fetched += 1
    finally:
        monkeypatch.setenv("SMS_RT_DATABASE_URL", role.url)
        purge_cached_app()
    return fetched

