"""Every audience source end to end through ``plan_wave`` on the real PostgreSQL, and bad audience input refused.

A view, a saved query with a ``%(tier)s`` parameter and a list file are read read-only and synced into
``contacts``; a segment is narrowed by response type, action, link (by its 1-based position, through the click's
short-link token, or by URL) and A/B variant. Each plan records the consent record it relied on per recipient
and, in ``wave_runs.excluded``, how many candidates each reason removed; the expected values are worked out by
hand in each test. A dry run writes nothing, contacts included. A query that writes, a missing view or a list with
a bad row fails the plan with a message naming the row, line or field, and nothing is planned, synced or sent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from event_fixtures import interaction_envelope, land, sent_envelope
from psycopg.types.json import Jsonb
from wave_fixtures import known_phones, seed_contacts, seed_opt_ins, seed_segment

from sms_response.db import connect
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.waves.plan import WavePlan, plan_wave
from sms_response.waves.request import WaveError, WaveSpec
from sms_response.waves.sources import AudienceFolders
from sms_response.waves.targeting import AudienceSpec
from sms_response.window import Window
from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
TOKEN = "audience-sources-token"
STAMP = datetime(2026, 11, 23, 17, tzinfo=UTC)
LINKS = "https://t.example/r"
TEMPLATE = "Hi {given_name}, 20% off: https://shop.example/sale"
SOURCE = "SEED_Offer_20261120090000"  # an earlier wave: the segment source
OTHER = "SEED_Promo_20261115090000"
EARLY = "SEED_Early_20261110090000"  # an earlier wave whose holdout a wave may leave out
URL_A, URL_B = "https://shop.example/a", "https://shop.example/b"
NO_REASONS = {"already_planned": 0, "opted_out": 0, "no_consent": 0, "hard_failure": 0, "holdout": 0,
              "frequency_cap": 0}
_waves = itertools.count()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    """The platform: its phones are the ones used here, and it must never receive anything of a refused plan."""
    state = build_state(SimulatorConfig(seed=9, recipients=40, mailings=1, campaign_start=STAMP - timedelta(days=3)))
    with SimulatorServer(state, token=TOKEN) as s:
        yield s


@pytest.fixture
def adb(pg_url: str, schema: str) -> Iterator[Conn]:
    conn = connect(pg_url, schema, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def phones(sim: SimulatorServer) -> list[str]:
    us = [p for p in known_phones(sim) if p.startswith("+1")]
    assert len(us) >= 12
    return us[:12]


@pytest.fixture
def folders(tmp_path: Path) -> AudienceFolders:
    f = AudienceFolders(queries=tmp_path / "queries", lists=tmp_path / "lists")
    f.queries.mkdir()
    f.lists.mkdir()
    return f


def national(phone: str) -> str:
    return f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"


def wave(audience: AudienceSpec, *, source_mailing: str = "", segment: str = "", **kw: Any) -> WaveSpec:
    return WaveSpec(campaign_code="AUD", wave_name=f"Wave{next(_waves)}", source_mailing=source_mailing,
                    segment=segment, variants={"A": TEMPLATE}, sample_size=2, audience=audience, **kw)


def plan(conn: Conn, spec: WaveSpec, folders: AudienceFolders, **kw: Any) -> WavePlan:
    return plan_wave(conn, spec, request_key=f"test/{spec.wave_name}", stamp=STAMP, short_link_base=LINKS,
                     folders=folders, **kw)


def db_now(conn: Conn) -> datetime:
    return conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index,no-any-return]


def import_published(conn: Conn, schema: str, root: Path, events: list[dict[str, Any]], now: datetime,
                     *, publish: bool = True) -> None:
    """Land and import one window of events (the pipeline's importer); publish it unless told not to."""
    hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1 if publish else 2)
    window = Window(hour, hour + timedelta(hours=1))
    land(root, window, events)
    with conn.transaction():
        result = import_window(conn, schema, root, window, load_mapping())
        assert result.rejected == 0
        if publish:
            conn.execute("UPDATE load_log SET status = 'published' WHERE load_id = %s", (window.id,))


def record(conn: Conn, phone: str, status: str, source: str, ref: str, at: datetime) -> int:
    """A consent record as a consent list or the platform's export loads it; its id."""
    row = conn.execute("INSERT INTO consent_records (phone_e164, status, source, source_ref, recorded_at) "
                       "VALUES (%s, %s, %s, %s, %s) RETURNING record_id", (phone, status, source, ref, at)).fetchone()
    assert row is not None
    return int(row[0])


def recipients(conn: Conn, mailing: str) -> dict[str, tuple[Any, ...]]:
    """{phone: (status, segment, consent status, source, ref, recorded at, record id, event id)}."""
    return {r[0]: tuple(r[1:]) for r in conn.execute(
        "SELECT phone_e164, status, segment, consent_status, consent_source, consent_ref, consent_recorded_at, "
        "consent_record_id, consent_event_id FROM wave_recipients WHERE mailing_name = %s", (mailing,))}


def excluded(conn: Conn, mailing: str) -> dict[str, int]:
    row = conn.execute("SELECT excluded FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    assert row is not None
    return dict(row[0])


def contacts(conn: Conn) -> dict[str, tuple[Any, ...]]:
    return {r[0]: tuple(r[1:]) for r in conn.execute(
        "SELECT phone_e164, contact_id, email, given_name, surname, postal_code, birthdate, custom FROM contacts")}


SNAPSHOT = ("contacts", "consent_records", "mailings", "wave_runs", "wave_recipients", "short_links")


def snapshot(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    """Every row (all columns, updated_at included) of the tables a plan may write."""
    return {t: sorted(tuple(str(v) for v in r) for r in conn.execute(f"SELECT * FROM {t}").fetchall())
            for t in SNAPSHOT}


# --- View --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["opt_in_required", "not_opted_out"])
def test_a_view_audience_records_the_deciding_consent_record_of_every_recipient(
    adb: Conn, schema: str, tmp_path: Path, folders: AudienceFolders, phones: list[str], policy: str,
) -> None:
    p = phones
    adb.execute("CREATE TABLE crm_people (phone text, first_name text, email text, loyalty_tier text)")
    adb.execute("CREATE VIEW gold_people AS SELECT phone, first_name, email, loyalty_tier FROM crm_people "
                "WHERE loyalty_tier = 'gold'")
    with adb.cursor() as cur:
        cur.executemany("INSERT INTO crm_people VALUES (%s, %s, %s, %s)",
                        [(national(ph) if i % 2 else ph, f"Gold{i}", f"g{i}@shop.example", "gold")
                         for i, ph in enumerate(p[:7])]
                        + [(p[7], "Silver7", "s7@shop.example", "silver")])
    now = db_now(adb)
    t1, t2 = now - timedelta(days=20), now - timedelta(days=2)
    # p0: a consent list's opt-in, then the platform export's later one: the later record decides.
    record(adb, p[0], "opted_in", "consent_list", "crm.csv:2", t1)
    p0_export = record(adb, p[0], "opted_in", "platform_export", "subscriber:p0", t2)
    # p1: an old opt-in, then a START keyword reply imported by the pipeline: the keyword event decides.
    record(adb, p[1], "opted_in", "consent_list", "crm.csv:3", t1)
    # p2: opted in, then opted out on a later consent list.
    record(adb, p[2], "opted_in", "consent_list", "crm.csv:4", t1)
    record(adb, p[2], "opted_out", "consent_list", "crm2.csv:2", t2)
    # p3: no consent evidence at all.
    # p4: opted in, then a STOP keyword.
    record(adb, p[4], "opted_in", "consent_list", "crm.csv:5", t1)
    # p5: an opt-in and an opt-out at the same instant: the opt-out decides.
    record(adb, p[5], "opted_in", "consent_list", "crm.csv:6", t2)
    record(adb, p[5], "opted_out", "platform_export", "subscriber:p5", t2)
    # p6: opted in long ago; an opt-out dated tomorrow does not count yet.
    p6_in = record(adb, p[6], "opted_in", "platform_export", "subscriber:p6", t1)
    record(adb, p[6], "opted_out", "platform_export", "subscriber:p6b", now + timedelta(days=1))
    # p7: silver, not in the view, although opted in.
    record(adb, p[7], "opted_in", "consent_list", "crm.csv:9", t1)
    import_published(adb, schema, tmp_path / "land", [
        interaction_envelope("kw-start", p[1], t2, "opt_in", OTHER, keyword="START"),
        interaction_envelope("kw-stop", p[4], t2, "opt_out", OTHER, keyword="STOP"),
    ], now)

    result = plan(adb, wave(AudienceSpec(source="view", relation="gold_people", consent_policy=policy)), folders)

    rows = recipients(adb, result.mailing_name)
    in_export = ("opted_in", "platform_export", "subscriber:p0", t2, p0_export, None)
    by_keyword = ("opted_in", "keyword", f"START ({OTHER})", t2, None, "kw-start")
    old_export = ("opted_in", "platform_export", "subscriber:p6", t1, p6_in, None)
    expected = {p[0]: in_export, p[1]: by_keyword, p[6]: old_export}
    if policy == "not_opted_out":
        expected[p[3]] = (None,) * 6  # no record at all: allowed, and nothing to rely on
    assert {ph: r[2:] for ph, r in rows.items()} == expected
    assert {r[:2] for r in rows.values()} == {("pending", "view")}
    reasons = {**NO_REASONS, "opted_out": 1,  # p4 (STOP)
               "no_consent": 3 if policy == "opt_in_required" else 2}  # p2, p5 (+ p3 without any record)
    assert excluded(adb, result.mailing_name) == reasons == result.excluded
    assert (result.candidates, result.audience, result.source) == (7, len(expected), "view gold_people")
    assert adb.execute("SELECT segment, source_mailing, consent_policy FROM wave_runs WHERE mailing_name = %s",
                       (result.mailing_name,)).fetchone() == ("view", None, policy)
    # The view's rows were synced into contacts (national numbers normalised), the silver one was not.
    synced = contacts(adb)
    assert set(synced) == set(p[:7])
    assert synced[p[1]][1:3] == ("g1@shop.example", "Gold1") and synced[p[1]][-1] == {"loyalty_tier": "gold"}


# --- Saved query, and every exclusion reason --------------------------------------------------------------------------

def test_a_saved_query_with_a_parameter_plans_its_rows_minus_every_exclusion_counted_by_reason(
    adb: Conn, schema: str, tmp_path: Path, folders: AudienceFolders, phones: list[str],
) -> None:
    p = phones
    adb.execute("CREATE TABLE customers (phone text, first_name text, loyalty_tier text)")
    tiers = ["gold"] * 9 + ["silver", "silver", "bronze"]
    with adb.cursor() as cur:
        cur.executemany("INSERT INTO customers VALUES (%s, %s, %s)",
                        [(ph, f"Cust{i}", tier) for i, (ph, tier) in enumerate(zip(p, tiers, strict=True))])
    (folders.queries / "by_tier.sql").write_text(
        "-- customers of one loyalty tier\n"
        "SELECT phone AS \"Mobile Number\", first_name AS \"First Name\", loyalty_tier\n"
        "FROM customers WHERE loyalty_tier = %(tier)s\n", encoding="utf-8")
    seed_opt_ins(adb, [ph for i, ph in enumerate(p) if i != 1])  # p1: no consent
    now = db_now(adb)
    import_published(adb, schema, tmp_path / "land", [
        interaction_envelope("kw-stop", p[2], now - timedelta(days=1), "opt_out", OTHER, keyword="STOP"),
        sent_envelope("s-p2", p[2], now - timedelta(days=300), OTHER, "failed", 30005),  # p2: STOP comes first
        sent_envelope("s-p3", p[3], now - timedelta(days=200), OTHER, "failed", 30005),  # p3: hard failure
        sent_envelope("s-p5", p[5], now - timedelta(days=2), OTHER),  # p5: 1 mailing in 7 days: at the cap
        sent_envelope("s-p6", p[6], now - timedelta(days=9), OTHER),  # p6: outside the 7 days
        sent_envelope("s-p8a", p[8], now - timedelta(days=1), OTHER, "failed", 21211),  # p8: hard failure, before
        sent_envelope("s-p8b", p[8], now - timedelta(days=1), SOURCE),  # the cap it also reaches
    ], now)
    # p4 was in the holdout of an earlier wave; p7 was planned by a wave that then failed (does not count).
    for mailing, status in ((EARLY, "completed"), (SOURCE, "failed")):
        adb.execute("INSERT INTO mailings (mailing_name, campaign_code, source) VALUES (%s, 'AUD', 'wave') "
                    "ON CONFLICT DO NOTHING", (mailing,))
        adb.execute("INSERT INTO wave_runs (mailing_name, request_key, campaign_code, wave_name, segment, params, "
                    "status) VALUES (%s, %s, 'AUD', 'Early', 'list', %s, %s)", (mailing, mailing, Jsonb({}), status))
    adb.execute("INSERT INTO wave_recipients (mailing_name, phone_e164, segment, idempotency_key, status, holdout) "
                "VALUES (%s, %s, 'list', 'k4', 'holdout', true), (%s, %s, 'list', 'k7', 'pending', false)",
                (EARLY, p[4], SOURCE, p[7]))

    audience = AudienceSpec(source="query", query="by_tier", query_params={"tier": "gold"}, frequency_cap=1,
                            frequency_days=7, exclude_holdout_of=EARLY)
    result = plan(adb, wave(audience), folders, known_custom=["loyalty_tier", "preferred_store"])

    rows = recipients(adb, result.mailing_name)
    assert set(rows) == {p[0], p[6], p[7]}
    assert excluded(adb, result.mailing_name) == {**NO_REASONS, "opted_out": 1, "no_consent": 1, "hard_failure": 2,
                                                  "holdout": 1, "frequency_cap": 1}
    assert (result.candidates, result.audience) == (9, 3)
    assert result.source == "saved query by_tier"
    # Only the gold rows were read and synced, with the platform's spelling of the custom field.
    assert set(contacts(adb)) == set(p[:9])
    assert contacts(adb)[p[0]][2:] == ("Cust0", None, None, None, {"loyalty_tier": "gold"})
    # The same saved query with another parameter: the silver rows (p9, p10).
    silver = plan(adb, wave(AudienceSpec(source="query", query="by_tier", query_params={"tier": "silver"})), folders)
    assert set(recipients(adb, silver.mailing_name)) == {p[9], p[10]}


# --- List file ----------------------------------------------------------------------------------------------------

def test_a_list_file_is_synced_into_contacts_and_planned(
    adb: Conn, folders: AudienceFolders, phones: list[str],
) -> None:
    p = phones
    seed_contacts(adb, [p[0]], {"preferred_store": "Online"})  # a known contact, with an opt-in
    seed_opt_ins(adb, p[1:3])
    (folders.lists / "spring.csv").write_text(
        "\ufeffPhone,First Name,Loyalty Tier\n"
        f"{national(p[0])},Ann,Gold\n"
        f"{p[1]},Bob,\n"
        f"\"{national(p[2])}\",Cy,Silver\n"
        f"{p[3]},Di,Gold\n", encoding="utf-8")

    result = plan(adb, wave(AudienceSpec(source="list", list_file="spring.csv")), folders,
                  known_custom=["loyalty_tier", "preferred_store"])

    assert set(recipients(adb, result.mailing_name)) == {p[0], p[1], p[2]}  # p3: no consent
    assert excluded(adb, result.mailing_name) == {**NO_REASONS, "no_consent": 1}
    synced = contacts(adb)
    # The list's columns replace what it has; the rest of a known contact stays (surname, e-mail, its store).
    assert synced[p[0]][1:] == ("p0@shop.example", "Ann", "Surname0", "10000", None,
                                {"loyalty_tier": "Gold", "preferred_store": "Online"})
    assert synced[p[1]][2:] == ("Bob", None, None, None, {})
    assert synced[p[3]][2] == "Di"  # synced although not planned: the list is the source of contacts
    assert adb.execute("SELECT DISTINCT segment FROM wave_recipients WHERE mailing_name = %s",
                       (result.mailing_name,)).fetchall() == [("list",)]


# --- Segment with response filters -------------------------------------------------------------------------------

@pytest.fixture
def responded(adb: Conn, schema: str, tmp_path: Path, phones: list[str]) -> list[str]:
    """SOURCE was a wave with variants A/B and two links per message (a, b); its recipients responded:

    s0 clicked link 1 (a), s1 link 2 (b), s2 replied, s3 tapped "buy", s4 tapped "info", s5 converted
    (variants A B A B A B); s6 (A) and s7 (B) did not respond; s8 (A) clicked link 2 in a window not yet
    published; s9 (B) clicked URL b in another mailing only.
    """
    s = phones[:10]
    variants = "ABABABABAB"
    adb.execute("INSERT INTO mailings (mailing_name, campaign_code, source) VALUES (%s, 'AUD', 'wave')", (SOURCE,))
    adb.execute("INSERT INTO wave_runs (mailing_name, request_key, campaign_code, wave_name, segment, params, status) "
                "VALUES (%s, 'src', 'AUD', 'Offer', 'list', %s, 'completed')", (SOURCE, Jsonb({})))
    with adb.cursor() as cur:
        cur.executemany("INSERT INTO wave_recipients (mailing_name, phone_e164, segment, variant, idempotency_key, "
                        "status, planned_at, sent_at) VALUES (%s, %s, 'list', %s, %s, 'sent', now() - interval "
                        "'40 days', now() - interval '40 days')",
                        [(SOURCE, ph, variants[i], f"src{i}") for i, ph in enumerate(s)])
        cur.executemany("INSERT INTO short_links (token, mailing_name, phone_e164, link_index, target_url) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        [(f"t{i}{k}", SOURCE, ph, k, url) for i, ph in enumerate(s)
                         for k, url in enumerate((URL_A, URL_B))])
    seed_segment(adb, SOURCE, {ph: "responders" if i in (0, 1, 2, 3, 4, 5, 8, 9) else "non_responders"
                               for i, ph in enumerate(s)})
    seed_contacts(adb, s)
    now = db_now(adb)
    at = now - timedelta(days=39)

    def click(i: int, k: int) -> dict[str, Any]:
        return interaction_envelope(f"c{i}", s[i], at, "click", SOURCE, linkToken=f"t{i}{k}", url=f"{LINKS}/t{i}{k}")

    import_published(adb, schema, tmp_path / "published", [
        click(0, 0), click(1, 1),
        interaction_envelope("r2", s[2], at, "reply", SOURCE, messageBody="Thanks!"),
        interaction_envelope("a3", s[3], at, "action", SOURCE, actionName="buy"),
        interaction_envelope("a4", s[4], at, "action", SOURCE, actionName="info"),
        interaction_envelope("v5", s[5], at, "conversion", SOURCE, value="19.90"),
        interaction_envelope("o9", s[9], at, "click", OTHER, url=URL_B),
    ], now)
    import_published(adb, schema, tmp_path / "unpublished", [click(8, 1)], now, publish=False)
    return s


@pytest.mark.parametrize(("filters", "segment", "expected"), [
    ({}, "responders", {0, 1, 2, 3, 4, 5, 8, 9}),
    ({"response_types": ["click"]}, "responders", {0, 1}),
    ({"response_types": ["reply", "conversion"]}, "responders", {2, 5}),
    ({"response_types": ["action"]}, "responders", {3, 4}),
    ({"action_names": ["buy"]}, "responders", {3}),
    ({"action_names": ["buy", "info"], "response_types": ["action", "reply"]}, "responders", {3, 4}),
    ({"link": "1"}, "responders", {0}),
    ({"link": "2"}, "responders", {1}),
    ({"link": URL_B}, "responders", {1}),
    ({"link": URL_A, "response_types": ["click"]}, "responders", {0}),
    ({"variant": "B"}, "responders", {1, 3, 5, 9}),
    ({"variant": "A"}, "non_responders", {6}),
    ({"response_types": ["click"], "variant": "B"}, "responders", {1}),
], ids=["responders", "clicks", "replies_or_conversions", "actions", "action_buy", "actions_named", "link_1",
        "link_2", "link_url_b", "link_url_a", "variant_b", "variant_a_non_responders", "clicks_of_variant_b"])
def test_a_segment_audience_is_narrowed_by_response_link_and_variant(
    adb: Conn, folders: AudienceFolders, responded: list[str], filters: dict[str, Any], segment: str,
    expected: set[int],
) -> None:
    spec = wave(AudienceSpec(**filters), source_mailing=SOURCE, segment=segment)
    result = plan(adb, spec, folders)
    rows = recipients(adb, result.mailing_name)
    assert set(rows) == {responded[i] for i in expected}
    assert {r[1] for r in rows.values()} == {segment}
    assert (result.candidates, result.excluded) == (len(expected), NO_REASONS)
    assert result.source.startswith(f"{segment} of {SOURCE}")


# --- Dry run -----------------------------------------------------------------------------------------------------

def test_a_dry_run_of_a_list_audience_writes_nothing_not_even_contacts(
    adb: Conn, folders: AudienceFolders, phones: list[str],
) -> None:
    p = phones
    seed_contacts(adb, p[:2])
    (folders.lists / "new.csv").write_text(
        "phone,first_name,loyalty_tier\n" + "".join(f"{ph},New{i},gold\n" for i, ph in enumerate(p[:4])),
        encoding="utf-8")
    before = snapshot(adb)

    result = plan(adb, wave(AudienceSpec(source="list", list_file="new.csv")), folders, dry_run=True)

    assert result.dry_run and (result.candidates, result.audience) == (4, 2)
    assert result.excluded == {**NO_REASONS, "no_consent": 2}
    assert snapshot(adb) == before  # names not changed, new phones not inserted, no wave, no mailing


# --- Bad input: refused, nothing planned, synced or sent -----------------------------------------------------------

BAD = {
    "query_that_writes": (
        {"source": "query", "query": "gone"},
        r"query file .*gone\.sql tries to write \(cannot execute \w+ in a read-only transaction\)"),
    "missing_view": (
        {"source": "view", "relation": "no_such_view"},
        r"no view named 'no_such_view' \(search path: "),
    "unparseable_phone": (
        {"source": "list", "list_file": "bad_phone.csv"},
        r"bad_phone\.csv: 1 row\(s\) rejected, nothing was loaded.*\n  line 3: .*'not a phone'"),
    "duplicate_phone": (
        {"source": "list", "list_file": "duplicate.csv"},
        r"duplicate\.csv: 1 row\(s\) rejected.*\n  line 4: duplicate phone \+1\d{10}: line 2 has it too"),
    "unknown_custom_field": (
        {"source": "list", "list_file": "unknown_field.csv"},
        r"unknown_field\.csv: 1 row\(s\) rejected.*\n  line 1: unknown custom field 'Shoe Size': the platform has "
        r"no such field \(known: loyalty_tier, preferred_store\)"),
    "missing_list_file": (
        {"source": "list", "list_file": "nowhere.csv"},
        r"no list file 'nowhere\.csv': .*nowhere\.csv does not exist"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_audience_input_fails_the_plan_naming_the_row_or_field_and_changes_nothing(
    adb: Conn, sim: SimulatorServer, folders: AudienceFolders, phones: list[str], case: str,
) -> None:
    p = phones
    seed_contacts(adb, p[:4])
    (folders.queries / "gone.sql").write_text(
        "WITH gone AS (DELETE FROM contacts RETURNING 1) SELECT phone_e164 AS phone FROM contacts, gone\n",
        encoding="utf-8")
    lists = {
        "bad_phone.csv": f"phone,first_name\n{p[0]},Ann\nnot a phone,Bob\n{p[5]},Cy\n",
        "duplicate.csv": f"phone,first_name\n{p[0]},Ann\n{p[1]},Bob\n{national(p[0])},Ann again\n",
        "unknown_field.csv": f"phone,first_name,Shoe Size\n{p[0]},Ann,38\n{p[6]},Eve,41\n",
    }
    for name, text in lists.items():
        (folders.lists / name).write_text(text, encoding="utf-8")
    before = snapshot(adb)
    fields, message = BAD[case]

    with pytest.raises(WaveError, match=message) as caught:
        plan(adb, wave(AudienceSpec(**fields)), folders, known_custom=["loyalty_tier", "preferred_store"])

    assert str(caught.value).startswith("audience (") and str(caught.value).endswith("Nothing was planned or sent.")
    assert snapshot(adb) == before  # contacts unchanged (no deletion, no partial sync), no mailing, no wave
    assert adb.execute("SELECT (SELECT count(*) FROM wave_runs) + (SELECT count(*) FROM wave_recipients) "
                       "+ (SELECT count(*) FROM mailings)").fetchone() == (0,)
    assert requests.get(f"{sim.base_url}/sim/sends", timeout=10).json()["total"] == 0

