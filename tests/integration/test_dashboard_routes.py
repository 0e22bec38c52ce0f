"""The campaign dashboard inside Airflow's own API server app, built in-process with the plugin loaded.

The seeded campaign and an A/B wave are loaded the way the pipeline loads them (``dashboard_fixtures``);
users sign in through Airflow's ``POST /auth/token`` (SimpleAuthManager with an admin, a viewer and a
user without a role). Every route answers 401 without credentials and 403 to the user without a role
(SimpleAuthManager's lowest role, viewer, may read every DAG: a role-less user is the one it can refuse),
200 to a viewer. Every figure on a page equals the metrics layer's (``sms_response.metrics.read``,
``sms_response.report``), phones are masked, nothing is loaded from elsewhere, routes are GET only, and
errors are short pages that name no secret.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from dashboard_fixtures import Seeded, seed_campaign, simulator_config

from sms_response import migrate
from sms_response.db import connect, drop_schema
from sms_response.metrics import read
from sms_response.report import reconciliation, segment_sizes
from sms_simulator import SimulatorServer, build_state

pytestmark = pytest.mark.integration
TOKEN = "dashboard-token"
PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw", "nobody": "nobody-pw"}
USERS = "admin:admin,viewer:viewer,nobody:"  # nobody has no role: SimpleAuthManager refuses it everything
SECRET = "Pa55-w0rd-never-shown"
# Attributes whose value a browser fetches or navigates to; xmlns only names a namespace.
URL_ATTRS = {"src", "href", "action", "srcset", "poster", "data", "xlink:href", "formaction", "background"}


@dataclass
class Dashboard:
    client: Any  # fastapi.testclient.TestClient over airflow.api_fastapi.app.create_app()
    tokens: dict[str, str]
    seeded: Seeded
    pg_url: str

    def get(self, path: str, user: str | None = "viewer", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return self.client.get(path, headers=headers, **kw)

    def connect(self) -> Any:
        return connect(self.pg_url, self.seeded.schema)


@pytest.fixture(scope="module")
def seeded(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, schema)
    try:
        with SimulatorServer(build_state(simulator_config()), token=TOKEN) as sim:
            yield seed_campaign(pg_url, schema, sim, TOKEN, tmp_path_factory.mktemp("dashboard"))
    finally:
        drop_schema(pg_url, schema)


@pytest.fixture(scope="module")
def dashboard(seeded: Seeded, pg_url: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Dashboard]:
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", USERS)
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
        env.setenv("SMS_RT_DATABASE_URL", pg_url)
        env.setenv("SMS_RT_SCHEMA", seeded.schema)
        env.delenv("AIRFLOW_CONN_SMS_RT_POSTGRES", raising=False)
        purge_cached_app()
        with TestClient(create_app("core")) as client:
            tokens = {}
            for user, password in PASSWORDS.items():
                answer = client.post("/auth/token", json={"username": user, "password": password})
                assert answer.status_code == 201, answer.text
                tokens[user] = answer.json()["access_token"]
            yield Dashboard(client, tokens, seeded, pg_url)
        purge_cached_app()


def pages_of(s: Seeded) -> dict[str, str]:
    """Every page of the dashboard for the seeded data, by what it shows."""
    m, w = s.mailings[0], s.wave
    return {
        "campaigns": "/sms-rt/", "campaign": f"/sms-rt/campaigns/{s.campaign}", "mailing": f"/sms-rt/mailings/{m}",
        "links": f"/sms-rt/mailings/{w}/links", "actions": f"/sms-rt/mailings/{m}/actions",
        "failures": f"/sms-rt/mailings/{m}/failures", "inbox": f"/sms-rt/mailings/{m}/inbox",
        "wave": f"/sms-rt/waves/{w}", "run": "/sms-rt/runs/sms_campaign_wave/dashboard_wave",
        "health": "/sms-rt/health", "validation": "/sms-rt/health/validations/1",
    }


ASSETS = ("/sms-rt/static/dashboard.css", "/sms-rt/static/icon.svg")


class Page(HTMLParser):
    """What a test reads off a page: figures (table → row → field → data-value), URLs, text, charts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, dict[str, str]]] = {}
        self.urls: list[tuple[str, str, str]] = []
        self.charts: list[dict[str, str]] = []
        self.marks = 0
        self.text: list[str] = []
        self._table = self._row = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self._table = a.get("data-table", self._table)
        if tag == "tr":
            self._row = a.get("data-row", "")
        if "data-field" in a and "data-value" in a:
            self.figures.setdefault(self._table, {}).setdefault(self._row, {})[a["data-field"]] = a["data-value"]
        self.urls += [(tag, k, v) for k, v in a.items() if k in URL_ATTRS]
        if tag == "svg":
            self.charts.append(a)
        self.marks += "mark" in a.get("class", "").split()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def table(self, name: str) -> dict[str, dict[str, str]]:
        return self.figures.get(name, {})


def same(shown: str, expected: Any) -> bool:
    """A page's data-value against the metrics layer's value (NULL shows as an empty value)."""
    if expected is None or (isinstance(expected, float) and expected != expected):
        return shown == ""
    if isinstance(expected, bool):
        return shown == str(expected)
    try:
        return float(shown) == float(expected)
    except (TypeError, ValueError):
        return shown == str(expected)


def assert_rows_equal(page: Page, table: str, rows: list[dict[str, Any]], key: str) -> None:
    shown = page.table(table)
    assert set(shown) == {str(r[key]) for r in rows}, f"{table}: rows {sorted(shown)}"
    for r in rows:
        for field, value in shown[str(r[key])].items():
            assert same(value, r[field]), f"{table}[{r[key]}].{field}: page {value!r}, metrics {r[field]!r}"


def frame_rows(df: Any) -> list[dict[str, Any]]:
    return [{k: (None if v is None or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
            for r in df.astype(object).where(df.notna(), None).to_dict("records")]


# --- security --------------------------------------------------------------------------------------------------


def test_every_route_answers_401_without_credentials_and_refuses_a_forged_token(dashboard: Dashboard) -> None:
    for path in [*pages_of(dashboard.seeded).values(), *ASSETS]:
        answer = dashboard.get(path, user=None)
        assert answer.status_code == 401, path
        assert "Sign in" in answer.text and "text/html" in answer.headers["content-type"], path
        assert 'href="/auth/login?next=' in answer.text, path  # Airflow's own sign-in page, back here after
        forged = dashboard.client.get(path, headers={"Authorization": "Bearer not-a-jwt"})
        assert forged.status_code in (401, 403), path


def test_a_user_without_dag_read_access_gets_403_on_every_page(dashboard: Dashboard) -> None:
    for path in pages_of(dashboard.seeded).values():
        answer = dashboard.get(path, user="nobody")
        assert answer.status_code == 403, path
        assert "No access" in answer.text and dashboard.seeded.campaign not in answer.text, path
    # The stylesheet and icon need a signed-in user only (the UI's navigation shows the icon to everyone).
    assert all(dashboard.get(a, user="nobody").status_code == 200 for a in ASSETS)


def test_viewer_and_admin_get_every_page_with_a_content_security_policy(dashboard: Dashboard) -> None:
    for user in ("viewer", "admin"):
        for name, path in pages_of(dashboard.seeded).items():
            answer = dashboard.get(path, user=user)
            assert answer.status_code == 200, (user, name, answer.text[:300])
            assert answer.headers["content-type"].startswith("text/html")
            assert "default-src 'none'" in answer.headers["content-security-policy"]
            assert answer.headers["cache-control"] == "no-store"


def test_the_pages_require_read_access_to_dags_that_exist() -> None:
    import os

    from airflow.dag_processing.dagbag import DagBag

    from sms_rt_airflow.dashboard import METRICS_DAG_ID, TRACKING_DAG_ID, WAVE_DAG_ID

    dags = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags
    assert {METRICS_DAG_ID, TRACKING_DAG_ID, WAVE_DAG_ID} <= set(dags)


def test_every_route_is_get_only_and_behind_an_airflow_security_dependency() -> None:
    from fastapi.routing import APIRoute

    from sms_rt_airflow.dashboard import app as dashboard_app

    guards = {d.dependency for d in (*dashboard_app.READ_METRICS, *dashboard_app.READ_WAVES, *dashboard_app.READ_RUN,
                                     *dashboard_app.READ_PIPELINE, *dashboard_app.AUTHENTICATED)}
    routes = [r for r in dashboard_app.create_app().routes if isinstance(r, APIRoute)]
    assert len(routes) == 10
    for route in routes:
        assert route.methods == {"GET"}, route.path
        assert {d.call for d in route.dependant.dependencies} & guards, f"{route.path} has no security dependency"


def test_writing_methods_are_refused_with_a_page(dashboard: Dashboard) -> None:
    for method in ("post", "put", "patch", "delete"):
        answer = getattr(dashboard.client, method)("/sms-rt/", headers={
            "Authorization": f"Bearer {dashboard.tokens['admin']}"})
        assert answer.status_code == 405 and "changes nothing" in answer.text


# --- figures -------------------------------------------------------------------------------------------------


def test_campaigns_page_shows_the_metrics_layers_figures_and_a_trend(dashboard: Dashboard) -> None:
    page = Page(dashboard.get("/sms-rt/").text)
    with dashboard.connect() as conn:
        expected = frame_rows(read.campaigns(conn))
    assert_rows_equal(page, "campaigns", expected, "campaign_code")
    assert {"sent", "delivery_rate", "click_rate", "response_rate", "unsubscribe_rate", "credits"} <= set(
        page.table("campaigns")[dashboard.seeded.campaign])
    sparkline = next(c for c in page.charts if c.get("data-chart") == "sparkline")
    assert int(sparkline["data-points"]) >= 2


def test_campaign_page_shows_totals_blasts_funnel_and_days(dashboard: Dashboard) -> None:
    from sms_rt_airflow.dashboard.formatting import rate

    s = dashboard.seeded
    html = dashboard.get(f"/sms-rt/campaigns/{s.campaign}").text
    page = Page(html)
    with dashboard.connect() as conn:
        data = read.campaign(conn, s.campaign)
    total = frame_rows(data["campaign"])[0]
    for field, value in page.table("campaign")[""].items():
        assert same(value, total[field]), field
    assert_rows_equal(page, "mailings", frame_rows(data["mailings"]), "mailing_name")
    assert set(page.table("mailings")) == {*s.mailings, s.wave}
    kinds = {c["data-chart"]: int(c["data-points"]) for c in page.charts}
    assert kinds["funnel"] == 5 and kinds["lines"] >= 2 and kinds["columns"] >= 1
    shown = re.search(r'data-field="response_rate"[^>]*>\s*<span class="kpi-value">([^<]+)<', html)
    assert shown and shown.group(1) == rate(total["response_rate"]) and shown.group(1).endswith(" %")


def test_mailing_pages_show_links_actions_failures_and_timing_of_the_metrics_layer(dashboard: Dashboard) -> None:
    s = dashboard.seeded
    m = s.mailings[0]
    with dashboard.connect() as conn:
        mailing = frame_rows(read.mailing(conn, m))[0]
        wave_links = frame_rows(read.links(conn, s.wave))
        actions = frame_rows(read.actions(conn, m))
        failures = frame_rows(read.failures(conn, m))
    overview = Page(dashboard.get(f"/sms-rt/mailings/{m}").text)
    for field, value in overview.table("mailing")[""].items():
        assert same(value, mailing[field]), field
    assert {c["data-chart"] for c in overview.charts} >= {"funnel", "columns"}

    links = Page(dashboard.get(f"/sms-rt/mailings/{s.wave}/links").text)
    keyed = [{**r, "key": f"{'' if r['link_index'] is None else r['link_index']}|{r['target_url']}"} for r in wave_links]
    assert_rows_equal(links, "links", keyed, "key")
    assert 0 in {r["link_index"] for r in wave_links}  # the wave's short links resolve to their index

    page = Page(dashboard.get(f"/sms-rt/mailings/{m}/actions").text)
    assert actions and page.marks >= len(actions)
    assert_rows_equal(page, "actions", actions, "action_name")

    page = Page(dashboard.get(f"/sms-rt/mailings/{m}/failures").text)
    keyed = [{**r, "key": f"{r['delivery_status']}|{'' if r['status_code'] is None else r['status_code']}|"
                          f"{r['carrier'] or ''}"} for r in failures]
    assert failures and len(page.table("failures")) == len(failures)
    assert_rows_equal(page, "failures", keyed, "key")
    assert {c["data-chart"] for c in page.charts} == {"hbars"} and page.marks > 0


def test_inbox_shows_every_reply_with_its_phone_masked(dashboard: Dashboard) -> None:
    m = dashboard.seeded.mailings[0]
    html = dashboard.get(f"/sms-rt/mailings/{m}/inbox").text
    with dashboard.connect() as conn:
        masked = read.inbox(conn, m)
        full = read.inbox(conn, m, unmasked=True)
    page = Page(html)
    assert not masked.empty and set(page.table("inbox")) == set(masked["event_id"])
    assert sorted(re.findall(r'data-field="phone_e164">([^<]*)<', html)) == sorted(masked["phone_e164"])
    assert not re.search(r"\+\d{8,}", html), "an unmasked phone number on the inbox page"
    assert not any(p in html for p in full["phone_e164"])
    latest = Page(dashboard.get(f"/sms-rt/mailings/{m}/inbox?latest=true").text)
    assert len(latest.table("inbox")) == int(masked["is_latest"].sum())


def test_wave_page_shows_variants_the_sample_gate_and_lift_with_its_interval(dashboard: Dashboard) -> None:
    s = dashboard.seeded
    with dashboard.connect() as conn:
        data = read.variants(conn, s.wave)
    for path in (f"/sms-rt/waves/{s.wave}", "/sms-rt/runs/sms_campaign_wave/dashboard_wave"):
        page = Page(dashboard.get(path).text)
        assert_rows_equal(page, "variants", frame_rows(data["variants"]), "variant_group")
        lift = frame_rows(data["lift"])
        assert {r["outcome"] for r in lift} == {"response", "conversion"}
        for r in lift:
            shown = page.table("lift")[r["outcome"]]
            for field in ("texted", "texted_hits", "holdout", "holdout_hits", "texted_rate", "holdout_rate", "lift"):
                assert same(shown[field], r[field]), field
            low, high = shown["interval"].split()
            assert same(low, r["ci_low"]) and same(high, r["ci_high"])
        gate = frame_rows(data["sample_gate"])[0]
        for field in ("status", "winner", "audience_size", "holdout_size"):
            assert same(page.table("sample_gate")[""][field], gate[field]), field
        intervals = next(c for c in page.charts if c["data-chart"] == "intervals")
        assert int(intervals["data-points"]) == 2


def test_the_dag_run_entry_says_when_a_run_has_no_wave(dashboard: Dashboard) -> None:
    other = dashboard.get("/sms-rt/runs/sms_response_tracking/manual__1")
    assert other.status_code == 404 and "sms_campaign_wave" in other.text
    unknown = dashboard.get("/sms-rt/runs/sms_campaign_wave/never_ran")
    assert unknown.status_code == 404 and "planned no wave" in unknown.text


def test_health_page_shows_each_windows_reconciliation_validation_and_segment_sizes(dashboard: Dashboard) -> None:
    page = Page(dashboard.get("/sms-rt/health").text)
    with dashboard.connect() as conn:
        recon = reconciliation(conn)
        sizes = segment_sizes(conn)
        validated = dict(conn.execute("SELECT load_id, success FROM validation_runs").fetchall())
    windows = page.table("windows")
    assert set(windows) == {r.load_id for r in recon} == set(dashboard.seeded.load_ids)
    for r in recon:
        shown = windows[r.load_id]
        for field in ("downloaded", "imported", "duplicates", "rejected", "late"):
            assert int(shown[field]) == getattr(r, field), (r.load_id, field)
        assert shown["reconciles"] == ("true" if r.reconciles else "false")
        assert shown["validation"] == str(validated[r.load_id])
    segments = page.table("segments")
    assert {m: (int(v["responders"]), int(v["non_responders"])) for m, v in segments.items()} == {
        m: (resp, non) for m, _, resp, non in sizes}


def test_validation_page_renders_the_stored_results_natively(dashboard: Dashboard) -> None:
    with dashboard.connect() as conn:
        vid, results = conn.execute("SELECT validation_id, results FROM validation_runs ORDER BY 1 LIMIT 1").fetchone()
    page = Page(dashboard.get(f"/sms-rt/health/validations/{vid}").text)
    rows = page.table("expectations")
    assert len(rows) == len(results) > 5
    for item in results:
        shown = rows[f"{item['suite']}|{item['expectation']}|{item['column'] or ''}"]
        assert shown["success"] == ("true" if item["success"] else "false")
        assert same(shown["unexpected_count"], item["unexpected_count"])
    assert not page.urls or all(not v.startswith(("http", "//")) for _, _, v in page.urls)


# --- offline, errors, plugin ---------------------------------------------------------------------------------


def test_no_page_or_asset_loads_anything_from_elsewhere(dashboard: Dashboard) -> None:
    fetched: set[str] = set()
    for path in pages_of(dashboard.seeded).values():
        page = Page(dashboard.get(path).text)
        for tag, attr, url in page.urls:
            assert not re.match(r"^(?:[a-z][a-z0-9+.-]*:|//)", url, re.I), f"{path}: <{tag} {attr}={url!r}>"
            if tag == "link":
                fetched.add(url)
    assert fetched == {"/sms-rt/static/dashboard.css"}
    for asset in ASSETS:
        body = dashboard.get(asset).text
        assert "@import" not in body and not re.search(r"url\(\s*['\"]?(?:[a-z]+:|//)", body, re.I), asset
        assert not re.search(r"(?:src|href)\s*=\s*['\"](?:https?:)?//", body), asset


def test_errors_are_generic_pages_that_name_no_secret(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = dashboard.get("/sms-rt/campaigns/NO_SUCH_CAMPAIGN")
    assert missing.status_code == 404 and "NO_SUCH_CAMPAIGN" in missing.text
    assert dashboard.get("/sms-rt/health/validations/not-a-number").status_code == 404
    assert dashboard.get("/sms-rt/nothing/here").status_code == 404
    # The response database is unreachable (a closed port) with a password in its URL.
    bad_url = f"postgresql://dash_user:{SECRET}@127.0.0.1:9/nodb"
    monkeypatch.setenv("SMS_RT_DATABASE_URL", bad_url)
    for path in pages_of(dashboard.seeded).values():
        answer = dashboard.get(path)
        assert answer.status_code == 503, path
        assert SECRET not in answer.text and "127.0.0.1:9" not in answer.text and "Traceback" not in answer.text
        assert "dash_user" not in answer.text and "can" in answer.text


def test_the_plugin_mounts_the_app_outside_reserved_prefixes_with_a_nav_and_a_dag_run_entry(
    dashboard: Dashboard,
) -> None:
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    plugins = dashboard.get("/api/v2/plugins", user="admin").json()["plugins"]
    plugin = next(p for p in plugins if p["name"] == "sms_campaign_dashboard")
    (app,) = plugin["fastapi_apps"]
    assert not any(app["url_prefix"].startswith(p) for p in RESERVED_URL_PREFIXES)
    views = {v["destination"]: v for v in plugin["external_views"]}
    assert views["nav"]["href"] == "sms-rt/" and views["nav"]["url_route"]
    assert views["dag_run"]["href"] == "sms-rt/runs/{DAG_ID}/{RUN_ID}"
    assert dashboard.get(views["nav"]["icon"].join(["/", ""])).status_code == 200


def test_the_plugin_file_imports_neither_fastapi_nor_the_pages() -> None:
    """Airflow executes plugin files in every task process: the dashboard loads on its first request."""
    import subprocess
    import sys

    plugin = Path(__file__).resolve().parents[2] / "plugins" / "sms_rt_dashboard.py"
    code = ("import runpy, sys; import airflow.plugins_manager; before = set(sys.modules); "
            "runpy.run_path(sys.argv[1]); print(sorted(set(sys.modules) - before - {'runpy'}))")
    out = subprocess.run([sys.executable, "-c", code, str(plugin)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "['sms_rt_airflow', 'sms_rt_airflow.dashboard']", out.stdout
