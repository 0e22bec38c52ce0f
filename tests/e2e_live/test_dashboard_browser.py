"""The campaign dashboard in headless Chromium, inside a real Airflow (api-server, scheduler, dag-processor,
triggerer) after the seeded campaign was loaded and a wave ran.

The campaign's windows are loaded through the library (download → import → validate → publish, segments,
metrics) into the schema the stack reads; ``sms_campaign_wave`` then runs on the stack's scheduler
(triggered over REST) and its window is loaded too. A user signs in on Airflow's login page, opens the
"SMS campaigns" navigation entry, sees the campaign's figures, opens the campaign, the wave's run tab
"Wave report" and the wave's link report; every chart on those pages is drawn with data, and no request
leaves the stack's address. Screenshots go to ``.local/screenshots/`` (printed at the end).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from dashboard_fixtures import (
    CAMPAIGN,
    SOURCE,
    VARIANTS,
    WAVE_AT,
    WAVE_WINDOW,
    load_window,
    seed_campaign,
    simulator_config,
)

from sms_response import migrate
from sms_response.db import connect, drop_schema
from sms_response.metrics import read
from sms_response.metrics.refresh import refresh_metrics
from sms_response.platform import SmsPlatformClient
from sms_response.segments import refresh_segments
from sms_response.waves.store import wave_for_request
from sms_rt_airflow.dashboard.formatting import amount, count, rate
from sms_rt_airflow.local_stack import REPO, AirflowStack, StackConfig, wait_until
from sms_simulator import SimulatorServer, build_state

pytestmark = [pytest.mark.e2e, pytest.mark.live]
TOKEN = "browser-token"
PASSWORDS = {"admin": "admin-browser-pw", "viewer": "viewer-browser-pw"}
WAVE_RUN = "browser_wave"
WAVE_CONF = {"campaign_code": CAMPAIGN, "source_mailing": SOURCE, "segment": "non_responders", "wave_name": "Reminder",
             "template": VARIANTS["A"], "variants": VARIANTS, "sample_size": 20, "sample_threshold": 0.5,
             "sample_wait_minutes": 0, "batch_size": 50, "holdout_pct": 20, "min_per_variant": 5,
             "quiet_hours_start": "00:00", "quiet_hours_end": "23:59"}
SHOTS = REPO / ".local" / "screenshots"
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright downloads no browser


@dataclass
class Deployment:
    stack: AirflowStack
    pg_url: str
    schema: str
    wave: str
    timings: dict[str, float]

    def connect(self) -> Any:
        return connect(self.pg_url, self.schema)


def rest(stack: AirflowStack, token: str, method: str, path: str, **kw: Any) -> Any:
    answer = requests.request(method, f"{stack.base_url}/api/v2{path}", headers={"Authorization": f"Bearer {token}"},
                              timeout=30, **kw)
    return answer


def run_wave(stack: AirflowStack, token: str) -> None:
    """Trigger sms_campaign_wave over REST (no logical date, as upstream systems do) and wait for success."""
    wait_until(lambda: rest(stack, token, "GET", "/dags/sms_campaign_wave").ok or None, 180,
               what="sms_campaign_wave parsed")
    assert rest(stack, token, "PATCH", "/dags/sms_campaign_wave", json={"is_paused": False}).ok
    body = {"dag_run_id": WAVE_RUN, "logical_date": None, "conf": WAVE_CONF}
    assert rest(stack, token, "POST", "/dags/sms_campaign_wave/dagRuns", json=body).status_code == 200

    def finished() -> Any:
        state = rest(stack, token, "GET", f"/dags/sms_campaign_wave/dagRuns/{WAVE_RUN}").json().get("state")
        return state if state in ("success", "failed") else None

    state = wait_until(finished, 300, interval=2, what="the wave run finished")
    assert state == "success", f"wave run {state}\n{stack.log_tail('scheduler', 40)}"


@pytest.fixture(scope="module")
def deployment(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    work = tmp_path_factory.mktemp("dashboard-live")
    schema = f"live_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, schema)
    timings: dict[str, float] = {}
    passwords = work / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    try:
        with SimulatorServer(build_state(simulator_config()), token=TOKEN) as sim:
            t0 = time.monotonic()
            seed_campaign(pg_url, schema, sim, TOKEN, work, with_wave=False)
            timings["load_campaign_s"] = time.monotonic() - t0
            host, port = sim.base_url.removeprefix("http://").split(":")
            env = {
                "AIRFLOW_CONN_SMS_PLATFORM": json.dumps({"conn_type": "http", "host": host, "port": int(port),
                                                         "schema": "http", "password": TOKEN}),
                "SMS_RT_DATABASE_URL": pg_url, "SMS_RT_SCHEMA": schema,
                "SMS_RT_LANDING_DIR": str(work / "landing"), "SMS_RT_DATA_DOCS_DIR": str(work / "data_docs"),
            }
            options = {("core", "simple_auth_manager_all_admins"): "False",
                       ("core", "simple_auth_manager_users"): "admin:admin,viewer:viewer",
                       ("core", "simple_auth_manager_passwords_file"): str(passwords)}
            t0 = time.monotonic()
            with AirflowStack(StackConfig(server_url=pg_url, env=env, home=work / "airflow", options=options)) as stack:
                timings["stack_start_s"] = time.monotonic() - t0
                token = requests.post(f"{stack.base_url}/auth/token", timeout=30, json={
                    "username": "admin", "password": PASSWORDS["admin"]}).json()["access_token"]
                t0 = time.monotonic()
                sim.push.clock = lambda: WAVE_AT  # the wave's events land in a window that is already closed
                run_wave(stack, token)
                client = SmsPlatformClient(sim.base_url, TOKEN)
                with connect(pg_url, schema, autocommit=True) as conn:
                    wave = wave_for_request(conn, f"sms_campaign_wave/{WAVE_RUN}")
                    assert wave, "the wave run planned no wave"
                    load_window(conn, pg_url, schema, client, work, WAVE_WINDOW, "browser_wave_window")
                    refresh_segments(conn, [SOURCE, wave])
                    refresh_metrics(conn)
                client.close()
                timings["wave_s"] = time.monotonic() - t0
                yield Deployment(stack, pg_url, schema, wave, timings)
    finally:
        drop_schema(pg_url, schema)
        print("\ndashboard browser test: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


class Browser:
    """Headless Debian Chromium through Playwright; every request outside the stack is refused and recorded."""

    def __init__(self, playwright: Any, base_url: str) -> None:
        self.base_url = base_url
        self.outside: list[str] = []
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        self.context = self.browser.new_context(viewport={"width": 1440, "height": 1000})
        self.context.route("**/*", self._only_the_stack)
        self.page = self.context.new_page()

    def _only_the_stack(self, route: Any) -> None:
        url = route.request.url
        if url.startswith((self.base_url + "/", "data:", "blob:")) or url == self.base_url:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def shot(self, name: str, target: Any = None) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        (target or self.page).screenshot(path=str(path), full_page=target is None)
        return path


def charts_have_data(frame: Any) -> int:
    """Every chart on the page has data points and at least one visible mark; returns the number of charts."""
    charts = frame.locator("svg.chart")
    n = charts.count()
    for i in range(n):
        chart = charts.nth(i)
        name = chart.get_attribute("aria-label")
        assert int(chart.get_attribute("data-points") or 0) > 0, f"chart without data: {name}"
        box = chart.locator(".mark").first.bounding_box()
        assert box and (box["width"] > 0 or box["height"] > 0), f"chart not drawn: {name}"
    return n


def figure(frame: Any, table: str, row: str | None, field: str) -> Any:
    scope = frame.locator(f'[data-table="{table}"]')
    if row is not None:
        scope = scope.locator(f'[data-row="{row}"]')
    return scope.locator(f'[data-field="{field}"]').first


def test_a_signed_in_user_reads_the_campaign_a_wave_and_its_links_in_the_airflow_ui(deployment: Deployment) -> None:
    from playwright.sync_api import expect, sync_playwright

    d = deployment
    with d.connect() as conn:
        totals = read.campaigns(conn).set_index("campaign_code").loc[CAMPAIGN]
        variants = read.variants(conn, d.wave)["variants"].set_index("variant_group")
        links = read.links(conn, d.wave)
    assert not links.empty and len(variants) == 3
    t0 = time.monotonic()
    shots: list[Path] = []
    with sync_playwright() as pw:
        b = Browser(pw, d.stack.base_url)
        page = b.page
        page.set_default_timeout(30_000)
        try:
            # Sign in on Airflow's own login page.
            page.goto(d.stack.base_url + "/")
            page.locator('input[name="username"]').fill("viewer")
            page.locator('input[name="password"]').fill(PASSWORDS["viewer"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/login" not in url)

            # The navigation entry opens the dashboard in the UI's frame, with the campaign's figures.
            page.get_by_role("link", name="SMS campaigns").first.click()
            frame = page.frame_locator('iframe[title="SMS campaigns"]')
            row = frame.locator(f'tr[data-row="{CAMPAIGN}"]')
            expect(row).to_be_visible()
            expect(figure(frame, "campaigns", CAMPAIGN, "sent")).to_have_text(count(totals["sent"]))
            expect(figure(frame, "campaigns", CAMPAIGN, "response_rate")).to_have_text(rate(totals["response_rate"]))
            expect(figure(frame, "campaigns", CAMPAIGN, "credits")).to_have_text(amount(totals["credits"]))
            assert charts_have_data(frame) == 1  # the trend
            shots.append(b.shot("01-navigation-campaigns"))

            # The campaign: totals, funnel, responses and opt-outs over time, its blasts.
            row.get_by_role("link", name=CAMPAIGN).click()
            expect(frame.locator("h1")).to_have_text(f"Campaign {CAMPAIGN}")
            page.wait_for_url(f"**/plugin/sms-campaigns/sms-rt/campaigns/{CAMPAIGN}")  # the address follows
            expect(figure(frame, "campaign", None, "sent").locator(".kpi-value")).to_have_text(count(totals["sent"]))
            expect(frame.locator(f'tr[data-row="{d.wave}"]')).to_be_visible()
            assert charts_have_data(frame) == 3
            shots.append(b.shot("02-campaign"))

            # The wave's own run: its "Wave report" tab shows the A/B variants, the gate and the lift.
            page.goto(f"{d.stack.base_url}/dags/sms_campaign_wave/runs/{WAVE_RUN}")
            page.get_by_role("tab", name="Wave report").or_(page.get_by_role("link", name="Wave report")).first.click()
            wave = page.frame_locator('iframe[title="Wave report"]')
            expect(wave.locator("h1")).to_contain_text(d.wave)
            for group in ("A", "B", "holdout"):
                expect(figure(wave, "variants", group, "assigned")).to_have_text(count(variants.loc[group, "assigned"]))
            expect(figure(wave, "lift", "response", "lift")).to_be_visible()
            assert charts_have_data(wave) == 3
            shots.append(b.shot("03-wave-run-tab"))

            # The wave's link report.
            wave.get_by_role("link", name="Links").click()
            expect(wave.locator('[data-table="links"]')).to_be_visible()
            first = links.sort_values("clicks", ascending=False).iloc[0]
            expect(wave.locator('[data-field="target_url"]', has_text=first["target_url"]).first).to_be_visible()
            assert charts_have_data(wave) == 2
            shots.append(b.shot("04-wave-links"))

            # The pages themselves, full size (the README's screenshot is the campaign page).
            for name, path in (("05-campaign-page", f"/sms-rt/campaigns/{CAMPAIGN}"),
                               ("06-wave-page", f"/sms-rt/waves/{d.wave}"), ("07-health-page", "/sms-rt/health")):
                page.goto(d.stack.base_url + path)
                assert charts_have_data(page) >= 2
                shots.append(b.shot(name))
            expect(page.locator('[data-field="all_reconcile"]')).to_have_attribute("data-value", "true")
        finally:
            b.browser.close()
    assert b.outside == [], f"requests left the stack: {b.outside}"
    d.timings["browser_s"] = time.monotonic() - t0
    print(f"\nscreenshots in {SHOTS}: {', '.join(p.name for p in shots)}")
