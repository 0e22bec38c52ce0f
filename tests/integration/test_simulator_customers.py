"""The simulator's customer table in PostgreSQL: written as modelled, loadable as an audience, and its tier truth.

The truth is checked against an opt status computed here by hand from the campaign's histories (the rule of
docs/audiences.md: the seeded initial opt-in, then the latest opt-in or opt-out event wins), so an end-to-end
test can rely on ``/sim/truth/customers`` for "wave 1 of the gold customers goes to exactly these phones".
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql

from sms_response.contacts import load_contacts, query_source, relation_source
from sms_simulator import PlatformState, SimulatorConfig, SimulatorServer, build_state
from sms_simulator.__main__ import main
from sms_simulator.clock import to_us
from sms_simulator.contacts import DEFAULT_CUSTOM_FIELDS
from sms_simulator.customer_table import CustomerTableError, write_customer_table
from sms_simulator.customers import TABLE_COLUMNS, customer_records

pytestmark = pytest.mark.integration
Conn = psycopg.Connection[Any]
START = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
CONFIG = SimulatorConfig(seed=17, recipients=300, mailings=3, campaign_start=START, opt_out_rate=0.1, opt_in_rate=0.3)
TOKEN = "customers-token"


@pytest.fixture(scope="module")
def state() -> PlatformState:
    return build_state(CONFIG)


def table_rows(db: Conn, schema: str, table: str = "customers") -> list[tuple[Any, ...]]:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in TABLE_COLUMNS)
    rows = db.execute(sql.SQL("SELECT {} FROM {}.{} ORDER BY customer_id").format(
        cols, sql.Identifier(schema), sql.Identifier(table))).fetchall()
    db.commit()
    return rows


def hand_opt_status(state: PlatformState) -> dict[str, str]:
    """Each contact's status now, from the generator's histories and the seeded initial opt-in (90 %, < 1 year)."""
    campaign = state.campaign
    assert campaign is not None
    start_us, seed = to_us(campaign.config.campaign_start), campaign.config.seed
    out: dict[str, str] = {}
    for recipient, history in zip(campaign.recipients, campaign.histories, strict=True):
        rng = random.Random(f"{seed}:opt-in:{recipient.contact_id}")
        initial = None if rng.random() >= 0.9 else start_us - int(rng.uniform(1, 365) * 86400) * 1_000_000
        ins = [t for t in [initial, *(e.at_us for e in history.events if e.interaction == "opt_in")] if t is not None]
        outs = [e.at_us for e in history.events if e.is_opt_out]
        if outs and (not ins or max(outs) >= max(ins)):
            out[recipient.e164] = "opted_out"
        else:
            out[recipient.e164] = "opted_in" if ins else "never_opted_in"
    return out


def test_the_table_holds_the_modelled_customers_and_a_rewrite_replaces_it(db: Conn, schema: str,
                                                                          state: PlatformState) -> None:
    small = build_state(SimulatorConfig(seed=3, recipients=20, mailings=1, campaign_start=START))
    assert len(write_customer_table(db, small, schema=schema)) == 21
    written = write_customer_table(db, state, schema=schema)
    assert table_rows(db, schema) == [c.row() for c in customer_records(build_state(CONFIG))]
    assert written == customer_records(state) and any(not c.known for c in written)


def test_the_table_loads_through_the_contact_loader_with_the_platforms_fields_and_no_rejects(
        db: Conn, schema: str, state: PlatformState) -> None:
    customers = write_customer_table(db, state, schema=schema)
    loaded = load_contacts(db, relation_source(db, f"{schema}.customers", "table"),
                           known_custom=list(DEFAULT_CUSTOM_FIELDS))
    assert (loaded.rows, loaded.inserted) == (len(customers), len(customers))
    assert set(loaded.custom_fields) == {"customer_id", "loyalty_tier", "preferred_store", "signup_date"}
    rows = db.execute("SELECT phone_e164, given_name, surname, email, postal_code, birthdate, custom->>'customer_id',"
                      " custom->>'loyalty_tier', custom->>'signup_date' FROM contacts ORDER BY phone_e164").fetchall()
    db.commit()
    assert rows == sorted((c.e164, c.first_name, c.last_name, c.email, c.postal_code, c.birthday, c.customer_id,
                           c.loyalty_tier, c.signup_date.isoformat()) for c in customers)


def test_a_gold_query_gives_the_truths_phones_and_its_opted_in_ones_are_the_hand_computed_ones(
        db: Conn, schema: str, state: PlatformState, tmp_path: Path) -> None:
    write_customer_table(db, state, schema=schema)
    query = tmp_path / "gold.sql"
    query.write_text(f"SELECT * FROM \"{schema}\".customers WHERE loyalty_tier = 'gold'\n", encoding="utf-8")
    loaded = load_contacts(db, query_source(db, query))
    with SimulatorServer(state, token=TOKEN) as sim:
        truth = requests.get(f"{sim.base_url}/sim/truth/customers", params={"loyalty_tier": "gold"}, timeout=10)
        export: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = requests.get(f"{sim.base_url}/v1/subscribers/opt-status", params={"cursor": cursor or ""},
                                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
            export += page["data"]
            if not (cursor := page["next_cursor"]):
                break
        refused = requests.get(f"{sim.base_url}/sim/truth/customers", params={"loyalty_tier": "platinum"}, timeout=10)
    assert truth.status_code == 200 and refused.status_code == 400
    body = truth.json()
    gold_in_db = {r[0] for r in db.execute("SELECT phone_e164 FROM contacts").fetchall()}
    db.commit()
    assert loaded.rows == body["customers"] and gold_in_db == set(body["phones"])
    assert body["unknown"] and not set(body["unknown"]) & {c.e164 for c in state.contacts()}
    by_hand = hand_opt_status(state)
    assert {r["phone"]: r["status"] for r in export} == by_hand
    assert body["opted_in"] == sorted(p for p in body["known"] if by_hand[p] == "opted_in")
    assert body["opted_out"] and body["never_opted_in"]  # the config makes each status occur among gold customers


def test_the_command_writes_the_same_table_and_needs_a_database(db: Conn, schema: str, pg_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    model = ["--seed", "17", "--recipients", "300", "--mailings", "3", "--campaign-start", START.isoformat()]
    assert main(["customers", "--database-url", pg_url, "--schema", schema, "--table", "crm_customers", *model]) == 0
    same_model = SimulatorConfig(seed=17, recipients=300, mailings=3, campaign_start=START)
    assert table_rows(db, schema, "crm_customers") == [c.row() for c in customer_records(build_state(same_model))]
    monkeypatch.delenv("SMS_RT_DATABASE_URL", raising=False)
    assert main(["customers", "--schema", schema, *model]) == 2


def test_a_view_on_the_table_stops_the_replace_and_nothing_changes(db: Conn, schema: str,
                                                                   state: PlatformState) -> None:
    write_customer_table(db, state, schema=schema)
    db.execute(sql.SQL("CREATE VIEW {}.gold AS SELECT * FROM {}.customers WHERE loyalty_tier = 'gold'").format(
        sql.Identifier(schema), sql.Identifier(schema)))
    db.commit()
    before = table_rows(db, schema)
    other = build_state(SimulatorConfig(seed=5, recipients=10, mailings=1, campaign_start=START))
    with pytest.raises(CustomerTableError, match="gold"):
        write_customer_table(db, other, schema=schema)
    assert table_rows(db, schema) == before
