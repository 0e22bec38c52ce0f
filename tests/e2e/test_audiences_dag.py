"""Audiences end to end on real Airflow (``dag.test()``), PostgreSQL and the platform simulator over loopback:

wave 1 from a saved customer query (gold customers, the CRM table the simulator writes) under opt_in_required
with the platform's opt-status export loaded by the plan task → its events imported → segments → wave 2 to the
clickers of wave 1's *second* link → its events → segments; every audience, send and segment equals what the
simulator's own model says (its customer truth and the wave truth), computed without the package's code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow
from wave_fixtures import sent_per_phone

from sms_simulator import SimulatorConfig, SimulatorServer, build_state
from sms_simulator.customer_table import write_customer_table
from sms_simulator.customers import customers_truth

pytestmark = pytest.mark.e2e
TOKEN = "audience-dag-token"
GOLD_QUERY = """-- Gold customers of the CRM, as the wave's profile update needs them.
SELECT customer_id AS contact_id, phone, first_name, last_name, email, postal_code, birthday,
       loyalty_tier, preferred_store
FROM customers
WHERE loyalty_tier = %(tier)s
"""
WAVE1_AT = datetime(2026, 11, 30, 12, tzinfo=UTC)
WAVE2_AT = WAVE1_AT + timedelta(hours=1)


@pytest.fixture
def aud_sim() -> Iterator[SimulatorServer]:
    state = build_state(SimulatorConfig(seed=42, recipients=400, mailings=1,
                                        campaign_start=datetime(2026, 11, 20, 9, tzinfo=UTC)))
    with SimulatorServer(state, token=TOKEN) as sim:
        yield sim


@pytest.fixture
def aud_env(monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str, aud_sim: SimulatorServer,
            tmp_path: Path) -> dict[str, str]:
    host, port = aud_sim.base_url.removeprefix("http://").split(":")
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "gold_customers.sql").write_text(GOLD_QUERY)
    env = {
        "AIRFLOW_CONN_SMS_PLATFORM": json.dumps({"conn_type": "http", "host": host, "port": int(port),
                                                 "schema": "http", "password": TOKEN}),
        "SMS_RT_DATABASE_URL": pg_url, "SMS_RT_SCHEMA": schema, "SMS_RT_LANDING_DIR": str(tmp_path / "landing"),
        "SMS_RT_QUERY_DIR": str(queries),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def wave_conf(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_code": "GOLD26", "sample_size": 5, "sample_threshold": 0.5, "sample_wait_minutes": 0,
        "batch_size": 20, "holdout_pct": 0, "quiet_hours_start": "00:00", "quiet_hours_end": "23:59",
        "min_per_variant": 0,
    }
    base.update(kw)
    return base


def run_wave(dagbag: Any, db: psycopg.Connection[TupleRow], at: datetime, conf: dict[str, Any]) -> str:
    dr = dagbag.dags["sms_campaign_wave"].test(logical_date=at, run_conf=conf)
    assert "success" in str(dr.state).lower()
    row = db.execute("SELECT mailing_name FROM wave_runs WHERE request_key = %s",
                     (f"sms_campaign_wave/{at.isoformat()}",)).fetchone()
    assert row is not None
    return str(row[0])


def track_and_segment(dagbag: Any, mailing: str) -> None:
    """Import the hours around now (the wave's sends and reactions), then refresh the mailing's segments."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = {"window_start": (hour - timedelta(hours=1)).isoformat(),
              "window_end": (hour + timedelta(hours=3)).isoformat()}
    assert "success" in str(dagbag.dags["sms_response_tracking"].test(run_conf=window).state).lower()
    dr = dagbag.dags["sms_segments_refresh"].test(run_conf={"mailing_names": [mailing]})
    assert "success" in str(dr.state).lower()


def members(db: psycopg.Connection[TupleRow], view: str, mailing: str) -> set[str]:
    return {r[0] for r in db.execute(f"SELECT phone_e164 FROM {view} WHERE mailing_name = %s", (mailing,)).fetchall()}


def assert_segments_are_the_model(db: psycopg.Connection[TupleRow], sim: SimulatorServer, mailing: str) -> dict[
    str, Any
]:
    truth = sim.push.wave_truth(mailing)
    opted_out = set(truth["opted_out_phones"])
    assert members(db, "responders", mailing) == set(truth["responders"]) - opted_out
    assert members(db, "non_responders", mailing) == set(truth["non_responders"]) - opted_out
    return truth


# About a minute of Airflow and the simulator: the first database pass only (the wave's SQL runs on both
# servers in tests/integration).
@pytest.mark.once
def test_wave_one_from_a_customer_query_then_wave_two_to_the_clickers_of_its_second_link(
    dagbag: Any, aud_env: dict[str, str], db: psycopg.Connection[TupleRow], aud_sim: SimulatorServer
) -> None:
    db.commit()
    db.autocommit = True
    write_customer_table(db, aud_sim.state, schema=aud_env["SMS_RT_SCHEMA"], table="customers")
    gold = customers_truth(aud_sim.state, loyalty_tier="gold")  # the model's answer, before anything is sent
    expected1 = set(gold["opted_in"])
    # The query's rows hold every case: opted in, never opted in, opted out, unknown to the platform.
    assert expected1 and gold["never_opted_in"] and gold["opted_out"] and gold["unknown"], gold

    wave1 = run_wave(dagbag, db, WAVE1_AT, wave_conf(
        wave_name="Gold", audience_source="query", audience_query="gold_customers", query_params={"tier": "gold"},
        template="Hi {given_name}, new for {custom_loyalty_tier} members: https://shop.example/new "
                 "or the sale: https://shop.example/sale",
    ))
    sent1 = sent_per_phone(aud_sim.push.send_counts(), wave1)
    assert set(sent1) == expected1 and set(sent1.values()) == {1}
    excluded, audience = db.execute("SELECT excluded, audience_size FROM wave_runs WHERE mailing_name = %s",
                                    (wave1,)).fetchone() or (None, None)
    assert audience == len(expected1)
    assert excluded["no_consent"] == gold["customers"] - len(expected1)
    # Every send records the consent it relied on: the platform export's opt-in.
    assert set(db.execute("SELECT consent_status, consent_source FROM wave_recipients WHERE mailing_name = %s",
                          (wave1,)).fetchall()) == {("opted_in", "platform_export")}
    # The source was synced into contacts: the profile update pushed the CRM's names and tier.
    assert db.execute("SELECT count(*) FROM contacts WHERE custom ->> 'loyalty_tier' = 'gold'").fetchone() == (
        gold["customers"],)

    track_and_segment(dagbag, wave1)
    truth1 = assert_segments_are_the_model(db, aud_sim, wave1)
    second_link = set(truth1["clickers_by_link"].get("2", ()))
    expected2 = (set(truth1["responders"]) - set(truth1["opted_out_phones"])) & second_link
    assert expected2, truth1["clickers_by_link"]
    assert set(truth1["clickers_by_link"].get("1", ())) - second_link  # the filter leaves first-link clickers out

    wave2 = run_wave(dagbag, db, WAVE2_AT, wave_conf(
        wave_name="SaleClickers", audience_source="segment", source_mailing=wave1, segment="responders",
        response_types=["click"], link="2", frequency_cap=2, frequency_days=7,
        template="Hi {given_name}, the sale ends tonight: https://shop.example/sale/last",
    ))
    sent2 = sent_per_phone(aud_sim.push.send_counts(), wave2)
    assert set(sent2) == expected2 and set(sent2.values()) == {1}

    track_and_segment(dagbag, wave2)
    truth2 = assert_segments_are_the_model(db, aud_sim, wave2)
    assert db.execute("SELECT count(*) FROM sms_sent WHERE mailing_name = %s", (wave2,)).fetchone() == (
        truth2["sent"],)
