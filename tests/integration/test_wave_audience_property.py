"""Consent and the frequency cap hold for every audience source, on the real PostgreSQL, through the real send.

For random consent histories (records of consent lists and the platform's export, opt keyword events imported
by the pipeline's importer, records dated in the future, consent changing between the plan and the send), both
consent policies, every audience source (a segment with and without each response filter, a view, a saved
query, a list file) and random earlier sends (imported ``sms_sent`` rows, recipients of earlier waves in every
state), the plan holds exactly the candidates a hand-written model allows, nobody without consent under the
wave's policy is ever in a batch sent to the platform (the simulator, through a client that records every
batch), and no phone gets more than ``frequency_cap`` mailings in ``frequency_days`` days. Two waves planned at
the same moment on separate connections never share a phone under a cap of one.

The model is written here by hand on purpose (not ``sms_response.consent.policy``): the deciding record is the
latest evidence at or before now, an opt-out first on a tie; keyword opt-outs (the latest opt keyword event)
exclude whatever the records say.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from event_fixtures import interaction_envelope, land, sent_envelope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb
from wave_fixtures import OPTED_IN_AT, known_phones, seed_contacts, seed_opt_ins, seed_segment

from sms_response.db import connect
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.platform import SmsPlatformClient
from sms_response.waves.audience import (
    EXCLUSION_REASONS,
    ConsentViolation,
    assert_sendable,
    build_audience,
    not_sendable,
)
from sms_response.waves.plan import WavePlan, plan_wave
from sms_response.waves.profiles import finish_profile_update, start_profile_update
from sms_response.waves.request import WaveSpec
from sms_response.waves.sample_gate import evaluate_sample
from sms_response.waves.send import send_phase
from sms_response.waves.sources import AudienceFolders, fill_candidates
from sms_response.waves.targeting import AudienceSpec
from sms_response.window import Window
from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration

TOKEN = "audience-property-token"
AWAKE = datetime(2026, 11, 23, 17, tzinfo=UTC)  # midday across the US, evening in the UK: nobody waits
LINKS = "https://t.example/r"
TEMPLATE = "Hi {given_name}, 20% off: https://shop.example/sale"
N = 10  # phones per example

SOURCE = "SEED_Offer_20261120090000"  # the segment source: an earlier wave, with its A/B variants and links
KEYWORD_MAILING = "SEED_News_20261118090000"  # the mailing the opt keyword replies answered
OLD = (SOURCE, "SEED_Promo_20261101090000", "SEED_Promo_20261115090000")  # mailings of imported sends
EARLY = ("PROP_Early1_20261125090000", "PROP_Early2_20261126090000")  # earlier waves (wave_recipients)
SOURCE_SENT_AGO = 30  # hours since SOURCE was sent (wave_recipients.sent_at)
AGES = (2, 30, 100, 250)  # hours ago; the cap windows (1, 3, 7 days) fall between them
CAP_DAYS = (1, 3, 7)
HARD_CODE = 30005  # a hard failure (hard_failure_codes)
POLICIES = ("opt_in_required", "not_opted_out")
STATUSES = ("opted_in", "opted_out")
RUN_STATUSES = ("planned", "completed", "sending", "failed", "sample_failed", "dry_run")
RECIPIENT_STATUSES = ("pending", "sending", "sent", "holdout", "holdout", "skipped_no_consent", "skipped_opted_out",
                      "failed", "dropped")
LINK_URLS = ("https://shop.example/a", "https://shop.example/b")
# Opt keyword events as they arrive (type, attributes) and what they mean for consent (None: nothing).
OPT = (("opt_out", {"keyword": "STOP"}, "opted_out"), ("opt_in", {"keyword": "START"}, "opted_in"),
       ("reply", {"messageBody": "STOP"}, "opted_out"), ("reply", {"messageBody": "unstop"}, "opted_in"),
       ("reply", {"messageBody": "Cancel"}, "opted_out"), ("reply", {"messageBody": "yes please"}, None))
# Responses of SOURCE's recipients: (type, link index or action name).
RESPONSES = (("click", 0), ("click", 1), ("reply", None), ("action", "buy"), ("action", "info"),
             ("conversion", None))

# Every audience source: AudienceSpec fields, and whether the segment is always 'responders' (response filters).
SOURCES: dict[str, tuple[dict[str, Any], bool]] = {
    "segment": ({}, False),
    "segment_response_types": ({"response_types": ("reply", "conversion")}, True),
    "segment_action_names": ({"action_names": ("buy",)}, True),
    "segment_link_position": ({"link": "2"}, True),
    "segment_link_url": ({"link": LINK_URLS[0]}, True),
    "segment_variant": ({"variant": "B"}, False),
    "view": ({"source": "view", "relation": "audience_view"}, False),
    "query": ({"source": "query", "query": "tier", "query_params": {"tier": "gold"}}, False),
    "list": ({"source": "list", "list_file": "people.csv"}, False),
}

_runs = itertools.count()


@dataclass(frozen=True)
class World:
    """One random history. Phones are indices into the simulator's known phones."""

    signed_up: frozenset[int]  # phones opted in on a consent list the day before the history starts
    records: dict[tuple[int, str, int | None], str]  # (phone, source, minute; None = tomorrow) -> status
    keywords: list[tuple[int, int, int]]  # (phone, OPT index, minute)
    late: dict[int, str]  # consent recorded between the plan and the send: phone -> status
    sends: list[tuple[int, int, int, bool]]  # imported sends: (phone, OLD index, hours ago, hard failure)
    early_runs: tuple[str, str]  # status of the EARLY waves
    early: dict[tuple[int, int], tuple[str, int]]  # (phone, EARLY index) -> (recipient status, hours ago)
    members: dict[int, tuple[frozenset[int], str]]  # SOURCE's recipients: phone -> (RESPONSES indices, variant)
    segment: str  # the segment a plain or variant-filtered segment wave asks for
    people: dict[int, tuple[str, bool]]  # rows of the view/query/list: phone -> (loyalty tier, national format)
    policy: str
    cap: int
    cap_days: int
    holdout_pct: float
    exclude_holdout: bool
    batch_size: int


_phone = st.integers(0, N - 1)
worlds = st.builds(
    World,
    signed_up=st.frozensets(_phone, max_size=N),
    records=st.dictionaries(st.tuples(_phone, st.sampled_from(("consent_list", "platform_export")),
                                      st.one_of(st.none(), st.integers(0, 19))),
                            st.sampled_from(("opted_in", "opted_in", "opted_out")), min_size=4, max_size=24),
    keywords=st.lists(st.tuples(_phone, st.integers(0, len(OPT) - 1), st.integers(0, 19)), max_size=10),
    late=st.dictionaries(_phone, st.sampled_from(("opted_out", "opted_out", "opted_in")), min_size=1, max_size=4),
    sends=st.lists(st.tuples(_phone, st.integers(0, len(OLD) - 1), st.sampled_from(AGES),
                             st.sampled_from((False, False, False, True))), min_size=2, max_size=12),
    early_runs=st.tuples(st.sampled_from(RUN_STATUSES), st.sampled_from(RUN_STATUSES)),
    early=st.dictionaries(st.tuples(_phone, st.integers(0, 1)),
                          st.tuples(st.sampled_from(RECIPIENT_STATUSES), st.sampled_from(AGES)), min_size=2,
                          max_size=12),
    members=st.dictionaries(_phone, st.tuples(st.frozensets(st.integers(0, len(RESPONSES) - 1), max_size=4),
                                              st.sampled_from(("A", "B"))), min_size=5),
    segment=st.sampled_from(("responders", "non_responders")),
    people=st.dictionaries(_phone, st.tuples(st.sampled_from(("gold", "silver", "bronze")), st.booleans()),
                           min_size=3),
    policy=st.sampled_from(POLICIES),
    cap=st.sampled_from((0, 1, 2, 3)),
    cap_days=st.sampled_from(CAP_DAYS),
    holdout_pct=st.sampled_from((0.0, 0.0, 30.0)),
    exclude_holdout=st.booleans(),
    batch_size=st.integers(1, 4),
)


# --- The model, by hand -------------------------------------------------------------------------------------------

def keyword_opted_out(w: World, p: int) -> bool:
    """The latest opt keyword event (time, then event id) of the phone is an opt-out."""
    events = [(minute, f"k{i:03d}", OPT[kind][2]) for i, (who, kind, minute) in enumerate(w.keywords)
              if who == p and OPT[kind][2] is not None]
    return bool(events) and max(events)[2] == "opted_out"


def deciding_status(w: World, p: int, *, at_send: bool = False) -> str | None:
    """The status of the phone's latest evidence at or before now (records dated tomorrow do not count yet); on
    a tie the opt-out decides. At the send, a record made after the plan is the latest of all."""
    if at_send and p in w.late:
        return w.late[p]
    evidence = [(minute, status == "opted_out", status) for (who, _, minute), status in w.records.items()
                if who == p and minute is not None]
    evidence += [(-1440, False, "opted_in")] if p in w.signed_up else []
    evidence += [(minute, OPT[kind][2] == "opted_out", OPT[kind][2]) for who, kind, minute in w.keywords
                 if who == p and OPT[kind][2] is not None]
    return max(evidence)[2] if evidence else None


def allows(policy: str, status: str | None) -> bool:
    return status == "opted_in" if policy == "opt_in_required" else status != "opted_out"


def mailings_in_cap_window(w: World, p: int) -> set[str]:
    """Distinct mailings that texted (or plan to text) the phone in the last cap_days days."""
    hours = w.cap_days * 24
    found = {OLD[m] for who, m, ago, _ in w.sends if who == p and ago < hours}
    for (who, k), (status, ago) in w.early.items():
        if who == p and status in ("pending", "sending", "sent") and w.early_runs[k] not in (
                "dry_run", "sample_failed", "failed") and ago < hours:
            found.add(EARLY[k])
    if p in w.members and SOURCE_SENT_AGO < hours:  # SOURCE is a completed wave: its recipients were sent
        found.add(SOURCE)
    return found


def candidates(w: World, source: str) -> set[int]:
    """The phones the source gives, before consent and exclusions."""
    responders = {p for p, (responses, _) in w.members.items() if responses}

    def answered(p: int, wanted: set[int]) -> bool:
        return bool(w.members[p][0] & wanted)

    if source == "segment":
        return {p for p in w.members if (p in responders) == (w.segment == "responders")}
    if source == "segment_variant":
        return {p for p, (_, v) in w.members.items() if (p in responders) == (w.segment == "responders")
                and v == "B"}
    wanted = {"segment_response_types": {2, 5}, "segment_action_names": {3}, "segment_link_position": {1},
              "segment_link_url": {0}}
    if source in wanted:
        return {p for p in responders if answered(p, wanted[source])}
    tiers = {"view": ("gold", "silver"), "query": ("gold",), "list": ("gold", "silver", "bronze")}[source]
    return {p for p, (tier, _) in w.people.items() if tier in tiers}


def exclusion(w: World, p: int) -> str | None:
    """The first reason the wave may not text a candidate (the order of wave_audience.sql), or None."""
    if keyword_opted_out(w, p):
        return "opted_out"
    if not allows(w.policy, deciding_status(w, p)):
        return "no_consent"
    if any(who == p and hard for who, _, _, hard in w.sends):
        return "hard_failure"
    if w.exclude_holdout and w.early.get((p, 0), ("", 0))[0] == "holdout":
        return "holdout"
    if w.cap and len(mailings_in_cap_window(w, p)) >= w.cap:
        return "frequency_cap"
    return None


# --- Writing the world as the pipeline would ------------------------------------------------------------------------

class RecordingClient(SmsPlatformClient):
    """The real client; it also keeps the phones of every batch it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[str]] = []

    def send_batch(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append([m["phone"] for m in messages])
        return super().send_batch(messages)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    state = build_state(SimulatorConfig(seed=5, recipients=60, mailings=1, campaign_start=AWAKE - timedelta(days=3)))
    with SimulatorServer(state, token=TOKEN) as s:
        s.push.clock = lambda: AWAKE
        yield s


def national(phone: str) -> str:
    """How a CRM might store a US number; other numbers stay E.164."""
    return f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}" if phone.startswith("+1") else phone


# Emptied before each example, referencing tables first (DELETE: far cheaper than TRUNCATE on tables this small).
TABLES = ("wave_profile_imports", "wave_recipients", "short_links", "wave_runs", "segment_current", "segment_members",
          "segment_runs", "sms_interactions", "sms_sent", "event_index", "event_rejects", "sms_consent", "load_log",
          "contacts", "consent_records", "people", "mailings")


def write_world(conn: psycopg.Connection[Any], schema: str, root: Path, folders: AudienceFolders,
                phones: list[str], w: World) -> None:
    with conn.transaction():
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    hour = now.replace(minute=0, second=0, microsecond=0)
    base = hour - timedelta(hours=48)  # consent history: minutes after this

    def ago(hours: int) -> datetime:
        return now - timedelta(hours=hours)

    # Imported events: opt keywords, SOURCE's responses, earlier sends (late events of the current window).
    events = [interaction_envelope(f"k{i:03d}", phones[p], base + timedelta(minutes=minute), OPT[kind][0],
                                   KEYWORD_MAILING, **OPT[kind][1])
              for i, (p, kind, minute) in enumerate(w.keywords)]
    tokens = {(p, i): f"tok{p}x{i}" for p in w.members for i in range(len(LINK_URLS))}
    for p, (responses, _) in w.members.items():
        for r in sorted(responses):
            itype, detail = RESPONSES[r]
            extra: dict[str, Any] = {}
            if itype == "click":
                extra = {"linkToken": tokens[(p, int(detail))], "url": f"{LINKS}/{tokens[(p, int(detail))]}"}
            elif itype == "action":
                extra = {"actionName": detail}
            elif itype == "reply":
                extra = {"messageBody": "thanks"}
            events.append(interaction_envelope(f"r{p}x{r}", phones[p], base + timedelta(hours=1), itype, SOURCE,
                                               **extra))
    for i, (p, m, hours, hard) in enumerate(w.sends):
        events.append(sent_envelope(f"s{i:03d}", phones[p], ago(hours), OLD[m], "failed" if hard else "delivered",
                                    HARD_CODE if hard else 0))
    window = Window(hour, hour + timedelta(hours=1))
    land(root, window, events)
    with conn.transaction():
        import_window(conn, schema, root, window, load_mapping())
        conn.execute("UPDATE load_log SET status = 'published'")

    # Consent records of consent lists and the platform's export (and some dated tomorrow).
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO consent_records (phone_e164, status, source, source_ref, recorded_at) VALUES (%s, %s, %s, %s, %s)",
            [(phones[p], status, source, f"{source}:{i}",
              now + timedelta(days=1) if minute is None else base + timedelta(minutes=minute))
             for i, ((p, source, minute), status) in enumerate(w.records.items())]
            + [(phones[p], "opted_in", "consent_list", "signup", base - timedelta(days=1)) for p in w.signed_up])

    # SOURCE: a completed earlier wave with A/B variants and two links per message, and its current segment.
    seed_segment(conn, SOURCE, {phones[p]: "responders" if responses else "non_responders"
                                for p, (responses, _) in w.members.items()})
    wave_run(conn, SOURCE, "completed")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO wave_recipients (mailing_name, phone_e164, segment, variant, idempotency_key, status, "
            "planned_at, sent_at) VALUES (%s, %s, 'list', %s, %s, 'sent', %s, %s)",
            [(SOURCE, phones[p], v, f"src{p}", ago(SOURCE_SENT_AGO + 1), ago(SOURCE_SENT_AGO))
             for p, (_, v) in w.members.items()])
        cur.executemany(
            "INSERT INTO short_links (token, mailing_name, phone_e164, link_index, target_url) VALUES (%s, %s, %s, %s, %s)",
            [(token, SOURCE, phones[p], i, LINK_URLS[i]) for (p, i), token in tokens.items()])
        # Earlier waves in every state; a sent recipient counts from its send, the others from their plan.
        for k, mailing in enumerate(EARLY):
            wave_run(conn, mailing, w.early_runs[k])
        cur.executemany(
            "INSERT INTO wave_recipients (mailing_name, phone_e164, segment, idempotency_key, status, holdout, "
            "planned_at, sent_at) VALUES (%s, %s, 'list', %s, %s, %s, %s, %s)",
            [(EARLY[k], phones[p], f"early{k}x{p}", status, status == "holdout",
              ago(300) if status == "sent" else ago(hours), ago(hours) if status == "sent" else None)
             for (p, k), (status, hours) in w.early.items()])

    # Contacts of every phone (no consent of their own); the view/query/list rows.
    seed_contacts(conn, phones, opted_in=False)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO people (phone, first_name, loyalty_tier) VALUES (%s, %s, %s)",
                        [(national(phones[p]) if fmt else phones[p], f"P{p}", tier)
                         for p, (tier, fmt) in w.people.items()])
    lines = ["Phone,First Name,Loyalty Tier"] + [
        f"\"{national(phones[p]) if fmt else phones[p]}\",P{p},{tier}" for p, (tier, fmt) in w.people.items()]
    (folders.lists / "people.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def wave_run(conn: psycopg.Connection[Any], mailing: str, status: str) -> None:
    conn.execute("INSERT INTO mailings (mailing_name, campaign_code, source) VALUES (%s, 'PROP', 'wave') "
                 "ON CONFLICT DO NOTHING", (mailing,))
    conn.execute("INSERT INTO wave_runs (mailing_name, request_key, campaign_code, wave_name, segment, params, status) "
                 "VALUES (%s, %s, 'PROP', 'Early', 'list', %s, %s)", (mailing, f"early/{mailing}", Jsonb({}), status))


@pytest.fixture
def folders(tmp_path: Path, db: psycopg.Connection[Any]) -> AudienceFolders:
    """The saved query and list folders, and the table and view the view/query/list sources read."""
    f = AudienceFolders(queries=tmp_path / "queries", lists=tmp_path / "lists")
    f.queries.mkdir()
    f.lists.mkdir()
    (f.queries / "tier.sql").write_text(
        "SELECT phone, first_name, loyalty_tier FROM people WHERE loyalty_tier = %(tier)s\n", encoding="utf-8")
    db.execute("CREATE TABLE people (phone text, first_name text, loyalty_tier text)")
    db.execute("CREATE VIEW audience_view AS SELECT * FROM people WHERE loyalty_tier IN ('gold', 'silver')")
    db.commit()
    return f


def update_profiles(conn: psycopg.Connection[Any], client: SmsPlatformClient, mailing: str, phase: str) -> None:
    """One phase's contact import, started and polled to its end (the simulator finishes on the second poll)."""
    started = start_profile_update(conn, client, mailing, phase)
    for _ in range(20):
        if started.finished:
            return
        assert started.import_id is not None
        status = client.contact_import_status(started.import_id)
        if status["status"] in ("Completed", "Failed"):
            finish_profile_update(conn, mailing, phase, status)
            return
    pytest.fail("the contact import never finished")


def rows_of(conn: psycopg.Connection[Any], mailing: str) -> dict[str, tuple[str, str | None]]:
    """{phone: (status, consent status recorded)} of a wave's recipients."""
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT phone_e164, status, consent_status FROM wave_recipients WHERE mailing_name = %s", (mailing,))}


# --- The property --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", list(SOURCES))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(w=worlds)
def test_nobody_without_consent_is_planned_or_sent_and_the_frequency_cap_holds(
    pg_url: str, schema: str, sim: SimulatorServer, folders: AudienceFolders, tmp_path: Path, source: str, w: World,
) -> None:
    phones = known_phones(sim)[:N]
    index = {p: i for i, p in enumerate(phones)}
    run = next(_runs)
    fields, responders_only = SOURCES[source]
    conn = connect(pg_url, schema, autocommit=True)
    client = RecordingClient(sim.base_url, TOKEN)
    try:
        write_world(conn, schema, tmp_path / f"land{run}", folders, phones, w)
        audience = AudienceSpec(**fields, consent_policy=w.policy, frequency_cap=w.cap, frequency_days=w.cap_days,
                                exclude_holdout_of=EARLY[0] if w.exclude_holdout else "")
        segment_source = audience.source == "segment"
        spec = WaveSpec(campaign_code="PROP", wave_name=f"Run{run}", source_mailing=SOURCE if segment_source else "",
                        segment=("responders" if responders_only else w.segment) if segment_source else "",
                        variants={"A": TEMPLATE}, sample_size=2, sample_threshold=0.0, batch_size=w.batch_size,
                        min_per_variant=0, holdout_pct=w.holdout_pct, audience=audience)
        plan: WavePlan = plan_wave(conn, spec, request_key=f"prop/{run}", stamp=AWAKE, short_link_base=LINKS,
                                   folders=folders, known_custom=client.contact_fields()["custom"])
        mailing = plan.mailing_name
        planned = rows_of(conn, mailing)

        # The plan is exactly what the model allows, and says why each other candidate was left out.
        reasons = {p: exclusion(w, p) for p in candidates(w, source)}
        assert {index[p] for p in planned} == {p for p, why in reasons.items() if why is None}
        expected_excluded = {k: 0 for k in EXCLUSION_REASONS} | Counter(why for why in reasons.values() if why)
        assert plan.excluded == expected_excluded
        assert conn.execute("SELECT excluded FROM wave_runs WHERE mailing_name = %s",
                            (mailing,)).fetchone() == (expected_excluded,)
        for phone, (status, consent) in planned.items():
            p = index[phone]
            # Consent under the wave's policy, by the hand-written model; the record the plan relied on.
            assert allows(w.policy, deciding_status(w, p)) and not keyword_opted_out(w, p), phone
            assert consent == deciding_status(w, p)
            # The cap: this wave's message plus the earlier ones in the window stay within it.
            if w.cap and status != "holdout":
                assert len(mailings_in_cap_window(w, p)) + 1 <= w.cap, phone

        # The guard every send batch passes through says the same of every phone, before consent changes.
        refused = {phones[p]: "opted_out" if keyword_opted_out(w, p) else "no_consent" for p in range(N)
                   if keyword_opted_out(w, p) or not allows(w.policy, deciding_status(w, p))}
        assert not_sendable(conn, phones, w.policy) == refused
        assert_sendable(conn, [ph for ph in phones if ph not in refused], w.policy)
        if refused:
            with pytest.raises(ConsentViolation, match=f"{len(refused)} number\\(s\\) without consent under {w.policy}"):
                assert_sendable(conn, phones, w.policy)

        # Consent changes after the plan (a consent list loaded, an export refreshed); then the whole wave is sent.
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO consent_records (phone_e164, status, source, source_ref, recorded_at) "
                            "VALUES (%s, %s, 'consent_list', %s, now())",
                            [(phones[p], status, f"late:{p}") for p, status in w.late.items()])
        update_profiles(conn, client, mailing, "sample")
        send_phase(conn, client, mailing, "sample", now=lambda: AWAKE)
        gate = evaluate_sample(conn, client, load_mapping(), mailing, now=lambda: AWAKE, short_link_base=LINKS)
        assert gate.ready and gate.passed
        update_profiles(conn, client, mailing, "full")
        send_phase(conn, client, mailing, "full", now=lambda: AWAKE)

        sent = [p for batch in client.batches for p in batch]
        for phone in sent:
            p = index[phone]
            assert allows(w.policy, deciding_status(w, p, at_send=True)) and not keyword_opted_out(w, p), phone
        treated = {ph for ph, (status, _) in planned.items() if status != "holdout"}
        assert sorted(sent) == sorted(ph for ph in treated if allows(w.policy, deciding_status(w, index[ph],
                                                                                                 at_send=True)))
        assert all(len(b) <= w.batch_size for b in client.batches)
        after = rows_of(conn, mailing)
        for phone in treated:
            status, consent = after[phone]
            assert status == ("sent" if phone in sent else "skipped_no_consent"), phone
            if status == "sent":  # the record the send relied on
                assert consent == deciding_status(w, index[phone], at_send=True)
    finally:
        client.close()
        conn.close()


# --- Two waves planned at the same moment ----------------------------------------------------------------------------

ROUNDS = 30


@pytest.mark.parametrize("source", ["segment", "list"])
def test_two_waves_planned_at_the_same_moment_never_share_a_phone_under_a_cap_of_one(
    pg_url: str, schema: str, sim: SimulatorServer, tmp_path: Path, source: str,
) -> None:
    phones = known_phones(sim)[:20]
    folders = AudienceFolders(queries=tmp_path, lists=tmp_path)
    conns = [connect(pg_url, schema, autocommit=True) for _ in range(3)]
    admin = conns[2]
    try:
        seed_segment(admin, SOURCE, dict.fromkeys(phones, "non_responders"))
        seed_contacts(admin, phones)  # with an opt-in each
        (tmp_path / "all.csv").write_text("phone\n" + "\n".join(phones) + "\n", encoding="utf-8")
        audience = (AudienceSpec(frequency_cap=1) if source == "segment"
                    else AudienceSpec(source="list", list_file="all.csv", frequency_cap=1))
        for r in range(ROUNDS):
            with admin.transaction():
                for table in ("wave_profile_imports", "wave_recipients", "short_links", "wave_runs"):
                    admin.execute(f"DELETE FROM {table}")
                admin.execute("DELETE FROM mailings WHERE source = 'wave'")
            barrier = threading.Barrier(2)
            plans: list[WavePlan | None] = [None, None]
            errors: list[BaseException] = []

            def plan(i: int, r: int = r, barrier: threading.Barrier = barrier, plans: list[Any] = plans,
                     errors: list[BaseException] = errors) -> None:
                try:
                    spec = WaveSpec(campaign_code="CONC", wave_name=f"R{r}W{i}",
                                    source_mailing=SOURCE if source == "segment" else "",
                                    segment="non_responders" if source == "segment" else "",
                                    variants={"A": TEMPLATE}, audience=audience)
                    barrier.wait(timeout=30)
                    plans[i] = plan_wave(conns[i], spec, request_key=f"conc/{r}/{i}", stamp=AWAKE,
                                         short_link_base=LINKS, folders=folders)
                except BaseException as exc:  # re-raised in the test's thread
                    errors.append(exc)

            threads = [threading.Thread(target=plan, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            if errors:
                raise errors[0]
            per_phone = dict(admin.execute("SELECT phone_e164, count(*) FROM wave_recipients "
                                           "WHERE status <> 'holdout' GROUP BY phone_e164").fetchall())
            assert set(per_phone) == set(phones), f"round {r}"
            assert set(per_phone.values()) == {1}, f"round {r}: a phone planned by both waves"
            sizes = sorted((p.audience, p.excluded["frequency_cap"]) for p in plans if p is not None)
            assert sizes == [(0, len(phones)), (len(phones), 0)], f"round {r}"
    finally:
        for c in conns:
            c.close()


def test_the_audience_leaves_out_those_already_in_the_target_mailing_and_reads_their_contacts(
    pg_url: str, schema: str, sim: SimulatorServer,
) -> None:
    target = "PROP_Wave2_20261121090000"
    phones = known_phones(sim)[:3]
    conn = connect(pg_url, schema, autocommit=True)
    try:
        seed_segment(conn, SOURCE, dict.fromkeys(phones, "non_responders"))
        seed_opt_ins(conn, phones)
        conn.execute("INSERT INTO mailings (mailing_name) VALUES (%s)", (target,))
        conn.execute("INSERT INTO wave_recipients (mailing_name, phone_e164, source_mailing, segment, idempotency_key) "
                     "VALUES (%s, %s, %s, 'non_responders', 'k1')", (target, phones[0], SOURCE))
        conn.execute("INSERT INTO contacts (phone_e164, given_name, custom) VALUES (%s, 'Ada', %s)",
                     (phones[1], Jsonb({"loyalty_tier": "gold"})))
        with conn.transaction(force_rollback=True):
            assert fill_candidates(conn, AudienceSpec(), SOURCE, "non_responders", None) == 3
            found = build_audience(conn, AudienceSpec(), target)
        assert [m.phone_e164 for m in found.members] == phones[1:]
        ada, unknown = found.members
        assert (ada.given_name, ada.custom) == ("Ada", {"loyalty_tier": "gold"})
        assert (unknown.given_name, unknown.contact_id, unknown.custom) == (None, None, {})
        assert (ada.consent.status, ada.consent.source, ada.consent.recorded_at) == ("opted_in", "consent_list",
                                                                                      OPTED_IN_AT)
        assert found.candidates == 3
        assert found.excluded == {**dict.fromkeys(EXCLUSION_REASONS, 0), "already_planned": 1}
    finally:
        conn.close()
