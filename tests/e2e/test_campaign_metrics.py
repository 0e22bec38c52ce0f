"""Campaign metrics end to end: every figure the pipeline reports equals the simulator's own truth.

One scenario, run once for the module: the seeded campaign (duplicates, malformed and late records, STOP
replies, actions, conversions) is imported window by window; its first blast's non-responders get an A/B
wave with a holdout, whose members still convert and reply through other paths; a few short links are
followed by hand; the wave's window is imported. After each window the metrics of what it touched are
refreshed, as ``sms_campaign_metrics`` does. Every figure of ``report_mailings``, ``report_campaigns``,
``report_links``, ``report_actions``, ``metric_variants`` and ``metric_lift`` must then equal
``/sim/truth/metrics``, computed from the simulator's model, and refreshing again or rebuilding everything
must change nothing.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg.rows import TupleRow
from wave_fixtures import known_phones

from sms_simulator import SimulatorConfig, SimulatorServer, WaveBehaviour, build_state

# The second database pass leaves this module out (marker once): its SQL runs on both servers in tests/integration.
pytestmark = [pytest.mark.e2e, pytest.mark.once]
CAMPAIGN_START = datetime(2026, 11, 20, 9, tzinfo=UTC)
SOURCE = "SPRING26_Wave1_Offer_20261120090000"
BLASTS = [SOURCE, "SPRING26_Wave2_Reminder_20261120110000"]
WAVE_AT = datetime(2026, 11, 23, 12, tzinfo=UTC)
WAVE = "SPRING26_Reminder_20261123120000"
PRICE_UCS2 = "1.5"
VARIANTS = {
    "A": "ShopCo: 20% off ends tonight: https://shop.example/sale Reply STOP to end",
    # Emoji: UCS-2, priced apart; two links, so link index 1 exists.
    "B": "ShopCo \U0001f381 a gift with every order today: https://shop.example/gift - how it works: "
         "https://shop.example/faq Reply STOP to end",
}
WAVE_CONF = {"campaign_code": "SPRING26", "source_mailing": SOURCE, "segment": "non_responders",
             "wave_name": "Reminder", "template": VARIANTS["A"], "variants": VARIANTS, "sample_size": 20,
             "sample_threshold": 0.5, "sample_wait_minutes": 0, "batch_size": 50, "holdout_pct": 20,
             "quiet_hours_start": "00:00", "quiet_hours_end": "23:59"}
# Holdout members convert and reply often enough in a small wave to be seen.
BEHAVIOUR = WaveBehaviour(holdout_conversion_rate=0.08, holdout_reply_rate=0.08, seed=4)
NOT_FIGURES = {"source", "refreshed_at", "response_window_hours"}  # bookkeeping columns


@dataclass
class Scenario:
    db: psycopg.Connection[TupleRow]
    sim: SimulatorServer
    truth: dict[str, Any]  # /sim/truth/metrics once every window is published
    variants_before_import: list[dict[str, Any]]  # metric_variants of the wave, refreshed before its window
    truth_before_import: dict[str, Any]  # the wave's truth at that moment
    incremental: dict[str, tuple[int, str]]  # metrics_fingerprint after the incremental refreshes
    rebuilt: dict[str, tuple[int, str]]  # after a full rebuild through the DAG
    refreshed_twice: dict[str, tuple[int, str]]  # after two more refreshes of everything


@pytest.fixture(scope="module")
def scenario(
    pg_url: str, sim_token: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    from airflow.dag_processing.dagbag import DagBag

    from sms_response import migrate
    from sms_response.db import connect, drop_schema
    from sms_response.report import metrics_fingerprint

    cfg = SimulatorConfig(seed=11, recipients=300, mailings=2, campaign_start=CAMPAIGN_START, duplicate_rate=0.02,
                          malformed_rate=0.02, late_rate=0.05, multi_event_rate=0.02)  # the e2e campaign
    schema = f"t_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, schema)
    with (SimulatorServer(build_state(cfg), token=sim_token, behaviour=BEHAVIOUR) as sim,
          pytest.MonkeyPatch.context() as env):
        host, port = sim.base_url.removeprefix("http://").split(":")
        env.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(
            {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": sim_token}))
        env.setenv("SMS_RT_DATABASE_URL", pg_url)
        env.setenv("SMS_RT_SCHEMA", schema)
        env.setenv("SMS_RT_LANDING_DIR", str(tmp_path_factory.mktemp("landing")))
        env.setenv("SMS_RT_CREDITS_PER_PART_UCS2", PRICE_UCS2)
        db = connect(pg_url, schema, autocommit=True)  # each refresh is its own transaction, as in the DAG
        try:
            dags = DagBag(dag_folder=str(Path(__file__).parents[2] / "dags")).dags
            hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            wave_window = (hour - timedelta(hours=1), hour + timedelta(hours=3))  # the wave's sends and reactions
            # The wave is sent now (the platform's clock), after the seeded campaign's last event (~Nov 22).
            assert wave_window[0] > CAMPAIGN_START + timedelta(days=3), "run this test after 2026-11-23"

            # The campaign in two windows (duplicates and late events cross the boundary), up to the wave's.
            track(dags, db, CAMPAIGN_START - timedelta(hours=1), CAMPAIGN_START + timedelta(hours=3))
            track(dags, db, CAMPAIGN_START + timedelta(hours=3), wave_window[0])
            succeeded(dags["sms_segments_refresh"].test(run_conf={"mailing_names": [SOURCE]}))

            # An A/B wave with a 20 % holdout to the first blast's non-responders.
            succeeded(dags["sms_campaign_wave"].test(logical_date=WAVE_AT, run_conf=WAVE_CONF))
            holdout = [r[0] for r in db.execute(
                "SELECT phone_e164 FROM wave_recipients WHERE mailing_name = %s AND holdout", (WAVE,)).fetchall()]
            assert len(holdout) >= 20 and set(holdout) <= set(known_phones(sim))
            # The platform is told the control group (as a marketer uploads one); members buy or reply anyway.
            registered = requests.post(f"{sim.base_url}/sim/holdout", json={"mailing": WAVE, "phones": holdout},
                                       timeout=10).json()
            assert registered["holdout"] == len(holdout) and registered["started"], registered
            # Recipients follow short links by hand too: a second link (index 1), and one link twice.
            linked = [m for m in sim.push.messages(WAVE) if len(m.request.links) == 2][:3]
            assert linked, "variant B's messages carry two links"
            for token in [m.request.links[1][0] for m in linked] + [linked[0].request.links[0][0]] * 2:
                assert requests.get(f"{sim.base_url}/r/{token}", allow_redirects=False, timeout=10).status_code == 302

            # Someone asks for the wave's figures before its window is published.
            refresh(db, [WAVE])
            variants_before = rows(db, "SELECT * FROM metric_variants WHERE mailing_name = %(m)s", m=WAVE)
            truth_before = truth(sim, wave_window[0], WAVE)["mailings"][WAVE]

            track(dags, db, *wave_window)
            final_truth = truth(sim, wave_window[1])
            incremental = metrics_fingerprint(db)
            succeeded(dags["sms_campaign_metrics"].test(run_conf={"full_rebuild": True}))
            rebuilt = metrics_fingerprint(db)
            refresh(db, None)
            refresh(db, None)
            yield Scenario(db, sim, final_truth, variants_before, truth_before, incremental, rebuilt,
                           metrics_fingerprint(db))
        finally:
            db.close()
            drop_schema(pg_url, schema)


def succeeded(dr: Any) -> None:
    assert "success" in str(dr.state).lower(), dr.state


def refresh(db: psycopg.Connection[TupleRow], mailings: list[str] | None) -> None:
    """``refresh_metrics`` with the response window and credits per part the metrics DAG reads from settings."""
    from sms_response.metrics.pricing import Pricing
    from sms_response.metrics.refresh import refresh_metrics
    from sms_response.settings import Settings

    settings = Settings.from_env()
    refresh_metrics(db, mailings, response_window=timedelta(hours=settings.response_window_hours),
                    pricing=Pricing(settings.credits_per_part_gsm7, settings.credits_per_part_ucs2))


def track(dags: dict[str, Any], db: psycopg.Connection[TupleRow], start: datetime, end: datetime) -> None:
    """Import and publish one window, then refresh what it touched (what ``sms_campaign_metrics`` picks)."""
    from sms_response.metrics.refresh import affected_mailings

    succeeded(dags["sms_response_tracking"].test(
        run_conf={"window_start": start.isoformat(), "window_end": end.isoformat()}))
    load_id = f"{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"
    touched = {r[0] for r in db.execute(
        "SELECT mailing_name FROM sms_sent WHERE load_id = %(l)s UNION "
        "SELECT mailing_name FROM sms_interactions WHERE load_id = %(l)s", {"l": load_id}).fetchall()}
    assert touched, load_id
    refresh(db, sorted(touched | set(affected_mailings(db, [load_id]))))


def truth(sim: SimulatorServer, until: datetime, mailing: str | None = None) -> dict[str, Any]:
    params = {"until": until.isoformat(), "price_ucs2": PRICE_UCS2, **({"mailing": mailing} if mailing else {})}
    resp = requests.get(f"{sim.base_url}/sim/truth/metrics", params=params, timeout=30)
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def rows(db: psycopg.Connection[TupleRow], query: str, **params: Any) -> list[dict[str, Any]]:
    cur = db.execute(query, params)
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def same(db_value: Any, truth_value: Any) -> bool:
    if truth_value is None or db_value is None:
        return truth_value is None and db_value is None
    if isinstance(db_value, datetime):
        return db_value == datetime.fromisoformat(truth_value)
    if isinstance(truth_value, str) and isinstance(db_value, Decimal):
        return db_value == Decimal(truth_value)
    if isinstance(truth_value, float) or isinstance(db_value, float):
        return math.isclose(float(db_value), float(truth_value), rel_tol=1e-9, abs_tol=1e-12)
    return bool(db_value == truth_value)


def differences(what: str, db_rows: list[dict[str, Any]], truth_rows: list[dict[str, Any]], key: tuple[str, ...],
                columns: set[str] | None = None) -> list[str]:
    """Every figure (of ``columns``, default all) that differs, and rows found on one side only."""
    got_by = {tuple(r[k] for k in key): r for r in db_rows}
    want_by = {tuple(r[k] for k in key): r for r in truth_rows}
    out = [f"{what} {k}: only in the metrics" for k in got_by.keys() - want_by.keys()]
    out += [f"{what} {k}: only in the truth" for k in want_by.keys() - got_by.keys()]
    for k in sorted(got_by.keys() & want_by.keys(), key=str):
        got, want = got_by[k], want_by[k]
        out += [f"{what} {k} {c}: metrics {got[c]!r} != truth {want.get(c, '(none)')!r}" for c in got
                if c not in NOT_FIGURES and (columns is None or c in columns) and not same(got[c], want.get(c))]
    return out


def per_mailing(name: str, truth_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"mailing_name": name, **r} for r in truth_rows]


def test_the_scenario_exercises_every_kind_of_figure(scenario: Scenario) -> None:
    mailings = scenario.truth["mailings"]
    assert sorted(mailings) == sorted([*BLASTS, WAVE])
    assert all(m["opt_outs"] and m["actions"] and m["conversions"] for m in mailings.values())
    wave = mailings[WAVE]
    assert wave["parts_ucs2"] > 0 and wave["parts_gsm7"] > 0
    assert {link["link_index"] for link in wave["links"]} == {0, 1}
    assert {v["variant_group"] for v in wave["variants"]} == {"A", "B", "holdout"}
    holdout = next(v for v in wave["variants"] if v["is_holdout"])
    assert holdout["converters"] > 0 and holdout["lift_converters"] > 0 and holdout["responders"] == 0
    assert {lift["outcome"] for lift in wave["lift"]} == {"response", "conversion"}


def test_every_reported_figure_equals_the_simulators_truth(scenario: Scenario) -> None:
    db, truth_ = scenario.db, scenario.truth
    mailings = truth_["mailings"]
    problems = differences("mailing", rows(db, "SELECT * FROM report_mailings"),
                           [{k: v for k, v in m.items() if not isinstance(v, list)} for m in mailings.values()],
                           ("mailing_name",))
    problems += differences("campaign", rows(db, "SELECT * FROM report_campaigns"),
                            list(truth_["campaigns"].values()), ("campaign_code",))
    for name, m in mailings.items():
        problems += differences(f"{name} link", rows(
            db, "SELECT * FROM report_links WHERE mailing_name = %(m)s", m=name),
            per_mailing(name, m["links"]), ("link_index", "target_url"))
        problems += differences(f"{name} action", rows(
            db, "SELECT * FROM report_actions WHERE mailing_name = %(m)s", m=name),
            per_mailing(name, m["actions"]), ("action_name",))
        problems += differences(f"{name} group", rows(
            db, "SELECT * FROM metric_variants WHERE mailing_name = %(m)s", m=name),
            per_mailing(name, m.get("variants", [])), ("variant_group",))
        problems += differences(f"{name} lift", rows(
            db, "SELECT * FROM metric_lift WHERE mailing_name = %(m)s", m=name),
            per_mailing(name, m.get("lift", [])), ("outcome",),
            {"texted", "texted_hits", "holdout", "holdout_hits", "texted_rate", "holdout_rate", "lift"})
    assert problems == []


def test_refreshing_again_or_rebuilding_everything_changes_no_figure(scenario: Scenario) -> None:
    assert scenario.rebuilt == scenario.incremental
    assert scenario.refreshed_twice == scenario.incremental


def test_variant_rates_follow_the_glossary(scenario: Scenario) -> None:
    wave = scenario.truth["mailings"][WAVE]
    problems = differences("group", rows(scenario.db, "SELECT * FROM report_variants WHERE mailing_name = %(m)s",
                                         m=WAVE), per_mailing(WAVE, wave["variants"]), ("variant_group",),
                           {"click_rate", "response_rate", "conversion_rate"})
    assert problems == []


def test_a_wave_refreshed_before_its_window_is_published_has_no_figures_yet(scenario: Scenario) -> None:
    # Its recipients are assigned, but no message of it is published: no groups, as a full rebuild would say.
    assert scenario.variants_before_import == []
    assert "variants" not in scenario.truth_before_import
