"""Every step of a wave, chained as the DAG chains them, against the simulator over loopback, on real PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from wave_fixtures import known_phones, seed_contacts, seed_segment, sent_per_phone

from sms_response.db import connect
from sms_response.mapping import load_mapping
from sms_response.platform import SmsPlatformClient
from sms_response.report import fingerprint
from sms_response.waves.plan import plan_wave
from sms_response.waves.profiles import UnknownCustomField, finish_profile_update, start_profile_update
from sms_response.waves.report import wave_report
from sms_response.waves.request import WaveSpec, idempotency_key, wave_mailing_name
from sms_response.waves.sample_gate import SampleBelowThreshold, evaluate_sample
from sms_response.waves.send import send_phase
from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration
TOKEN = "wave-token"
SOURCE = "SEED_Offer_20261120090000"
STAMP = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
ALL_AWAKE = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 17:00 London, 12:00 New York, 09:00 Los Angeles
TEMPLATE = "Hi {given_name}, still thinking about it? 20% off today: https://shop.example/sale?src=sms Reply STOP to end"
UNKNOWN_PHONE = "+12025550199"  # a valid number the platform has never seen


@pytest.fixture
def adb(pg_url: str, schema: str) -> Iterator[psycopg.Connection[Any]]:
    conn = connect(pg_url, schema, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    state = build_state(SimulatorConfig(seed=21, recipients=80, mailings=1,
                                        campaign_start=datetime(2026, 11, 20, 9, tzinfo=UTC)))
    with SimulatorServer(state, token=TOKEN) as s:
        s.push.clock = lambda: ALL_AWAKE  # the platform's clock agrees with the tests' frozen one
        yield s


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[SmsPlatformClient]:
    c = SmsPlatformClient(sim.base_url, TOKEN)
    yield c
    c.close()


def sends(sim: SimulatorServer) -> dict[str, Any]:
    return dict(requests.get(f"{sim.base_url}/sim/sends", timeout=10).json())


def sent_to(sim: SimulatorServer, mailing: str) -> dict[str, int]:
    return sent_per_phone(sends(sim), mailing)


def spec(**kw: Any) -> WaveSpec:
    base: dict[str, Any] = dict(campaign_code="SPRING26", wave_name="Reminder 2!", source_mailing=SOURCE,
                                segment="non_responders", variants={"A": TEMPLATE}, sample_size=5,
                                sample_threshold=0.5, batch_size=7, min_per_variant=5)
    base.update(kw)
    return WaveSpec(**base)


def update_profiles(conn: psycopg.Connection[Any], client: SmsPlatformClient, mailing: str, phase: str) -> int:
    """One phase's contact import, started and polled to its end; the numbers it dropped as unknown."""
    started = start_profile_update(conn, client, mailing, phase)
    if started.finished:
        return started.dropped_unknown or 0
    assert started.import_id is not None
    deadline = time.monotonic() + 10
    while True:
        status = client.contact_import_status(started.import_id)
        if status["status"] in ("Completed", "Failed"):
            return finish_profile_update(conn, mailing, phase, status).dropped_unknown or 0
        assert time.monotonic() < deadline, "import never finished"


def through_the_sample(conn: psycopg.Connection[Any], client: SmsPlatformClient, key: str, **spec_kw: Any) -> str:
    """Plan, push the sample's profiles, send the sample, pass the gate, push the rest's profiles: what precedes
    every full send."""
    mailing = plan_wave(conn, spec(**spec_kw), request_key=key, stamp=STAMP,
                        short_link_base="https://t.example/r").mailing_name
    update_profiles(conn, client, mailing, "sample")
    send_phase(conn, client, mailing, "sample", now=lambda: ALL_AWAKE)
    evaluate_sample(conn, client, load_mapping(), mailing, now=lambda: ALL_AWAKE, short_link_base="https://t.example/r")
    update_profiles(conn, client, mailing, "full")
    return mailing


def statuses(conn: psycopg.Connection[Any], mailing: str) -> dict[str, str]:
    return dict(conn.execute("SELECT phone_e164, status FROM wave_recipients WHERE mailing_name = %s",
                             (mailing,)).fetchall())


def setup_source(conn: psycopg.Connection[Any], phones: list[str], **custom: Any) -> None:
    seed_segment(conn, SOURCE, {p: "non_responders" if i % 4 else "responders" for i, p in enumerate(phones)})
    seed_contacts(conn, phones, custom or None)


def test_mailing_name_is_sanitised_unique_and_stamped() -> None:
    assert wave_mailing_name("SPRING26", "Reminder 2!", STAMP) == "SPRING26_Reminder_2_20261123120005"
    assert wave_mailing_name("a b", "Last Chance — €5", STAMP) == "a_b_Last_Chance_5_20261123120005"
    assert len(wave_mailing_name("C" * 80, "W" * 80, STAMP)) == 128
    assert idempotency_key("M", "+1") != idempotency_key("M2", "+1")


def test_plan_registers_the_mailing_with_short_links_and_resumes(
    adb: psycopg.Connection[Any], sim: SimulatorServer
) -> None:
    phones = known_phones(sim)[:40]
    setup_source(adb, phones)
    adb.execute("INSERT INTO sms_consent VALUES (%s, 'opted_out', 'e1', now(), 'STOP', %s)", (phones[1], SOURCE))
    plan = plan_wave(adb, spec(holdout_pct=20), request_key="dag/run1", stamp=STAMP, short_link_base="https://t.example/r")
    mailing = plan.mailing_name
    expected = {p for i, p in enumerate(phones) if i % 4} - {phones[1]}
    assert plan.audience == len(expected) and plan.holdout == round(len(expected) * 0.2) and plan.sample == 5
    assert adb.execute("SELECT source, campaign_code FROM mailings WHERE mailing_name = %s",
                       (mailing,)).fetchone() == ("wave", "SPRING26")
    rows = adb.execute("SELECT phone_e164, phase, status, holdout, message_body, idempotency_key FROM wave_recipients "
                       "WHERE mailing_name = %s", (mailing,)).fetchall()
    assert {r[0] for r in rows} == expected
    sample = [r for r in rows if r[1] == "sample"]
    assert len(sample) == 5 and not any(r[3] for r in sample)
    assert sum(r[2] == "holdout" for r in rows) == plan.holdout
    links = dict(adb.execute("SELECT phone_e164, token FROM short_links WHERE mailing_name = %s", (mailing,)).fetchall())
    for phone, _, _, _, body, key in sample:
        token = links[phone]
        assert len(token) >= 12 and f"https://t.example/r/{token}" in body and "shop.example" not in body
        assert key == idempotency_key(mailing, phone)
    assert len(set(links.values())) == len(links)  # one unguessable token per recipient
    # The same request again: the stored plan, not a second mailing.
    again = plan_wave(adb, spec(holdout_pct=20), request_key="dag/run1", stamp=STAMP + timedelta(hours=1),
                      short_link_base="https://t.example/r")
    assert again.resumed and again.mailing_name == mailing
    assert adb.execute("SELECT count(*) FROM mailings WHERE source = 'wave'").fetchone() == (1,)


def test_dry_run_reports_parts_and_credits_and_writes_nothing(
    adb: psycopg.Connection[Any], sim: SimulatorServer
) -> None:
    phones = known_phones(sim)[:20]
    setup_source(adb, phones)
    before = fingerprint(adb)
    emoji = "Hi {given_name} \U0001f381 a gift for you: https://shop.example/gift"
    plan = plan_wave(adb, spec(variants={"A": TEMPLATE, "B": emoji}), request_key="dag/dry", stamp=STAMP,
                     short_link_base="https://t.example/r", dry_run=True)
    assert plan.dry_run and plan.audience == 15
    assert plan.parts_by_variant == {"A": 1, "B": 1}
    assert plan.credits_by_variant == {"A": 15, "B": 15}
    assert fingerprint(adb) == before
    assert sends(sim)["total"] == 0


def test_a_wave_texts_every_recipient_exactly_once_and_never_the_holdout(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    phones = known_phones(sim)[:41] + [UNKNOWN_PHONE]
    setup_source(adb, phones, **{"loyalty tier": "gold"})
    plan = plan_wave(adb, spec(holdout_pct=10), request_key="dag/run", stamp=STAMP, short_link_base="https://t.example/r")
    mailing = plan.mailing_name
    dropped = update_profiles(adb, client, mailing, "sample")
    sample = send_phase(adb, client, mailing, "sample", now=lambda: ALL_AWAKE)
    assert sample.done and sample.sent == 5 - dropped
    result = evaluate_sample(adb, client, load_mapping(), mailing, now=lambda: ALL_AWAKE + timedelta(hours=2),
                             short_link_base="https://t.example/r")
    assert result.ready and result.passed and result.winner == "A"
    assert dropped + update_profiles(adb, client, mailing, "full") == 1
    assert sim.push.contacts.profile(phones[1])["custom:loyalty_tier"] == "gold"
    full = send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE)
    state = statuses(adb, mailing)
    assert full.done and full.batches == -(-full.sent // 7)
    assert sample.sent + full.sent == sum(s == "sent" for s in state.values())
    holdout = {p for p, s in state.items() if s == "holdout"}
    assert len(holdout) == plan.holdout and UNKNOWN_PHONE not in holdout
    assert state.get(UNKNOWN_PHONE, "dropped") == "dropped"
    counts = sent_to(sim, mailing)
    assert set(counts) == {p for p, s in state.items() if s == "sent"}
    assert set(counts.values()) == {1}
    assert not holdout & set(counts)
    assert wave_report(adb, mailing)["status"] == "completed"
    # Running the send again (a retry, a re-run DAG) sends nothing.
    again = send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE)
    assert again.sent == again.duplicates == 0 and sent_to(sim, mailing) == counts


def test_a_crash_after_the_platform_accepted_a_batch_resends_it_without_texting_twice(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    class CrashAfterSecondBatch(SmsPlatformClient):
        batches = 0

        def send_batch(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = super().send_batch(messages)
            type(self).batches += 1
            if self.batches == 2:
                raise ConnectionError("answer lost after the platform accepted the batch")
            return out

    phones = known_phones(sim)[:30]
    setup_source(adb, phones)
    mailing = through_the_sample(adb, client, "dag/crash", sample_size=1)
    crashing = CrashAfterSecondBatch(sim.base_url, TOKEN)
    with pytest.raises(ConnectionError):
        send_phase(adb, crashing, mailing, "full", now=lambda: ALL_AWAKE)
    in_doubt = [p for p, s in statuses(adb, mailing).items() if s == "sending"]
    assert len(in_doubt) == 7  # the batch whose answer was lost
    resumed = send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE)
    assert resumed.duplicates == 7  # the platform recognised the keys
    assert set(sent_to(sim, mailing).values()) == {1}
    assert set(statuses(adb, mailing).values()) == {"sent"}


def test_recipients_outside_quiet_hours_wait_for_their_window(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    phones = [p for p in known_phones(sim) if p.startswith(("+1212", "+1310", "+1213", "+1917", "+1646", "+1818"))]
    assert {p[:5] for p in phones} & {"+1212", "+1917", "+1646"} and {p[:5] for p in phones} & {"+1310", "+1213",
                                                                                                    "+1818"}
    seed_segment(adb, SOURCE, dict.fromkeys(phones, "non_responders"))
    seed_contacts(adb, phones)
    mailing = through_the_sample(adb, client, "dag/quiet", sample_size=1, sample_threshold=0.0)
    frozen = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in New York, 06:00 in Los Angeles
    early = send_phase(adb, client, mailing, "full", now=lambda: frozen)
    west = {p for p in phones if p[:5] in ("+1310", "+1213", "+1818")}
    assert not early.done and early.next_send_at == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 08:00 PST
    waiting = dict(adb.execute("SELECT phone_e164, send_after FROM wave_recipients WHERE mailing_name = %s AND "
                               "status = 'pending'", (mailing,)).fetchall())
    full_west = {p for p, ph in adb.execute("SELECT phone_e164, phase FROM wave_recipients WHERE mailing_name = %s",
                                            (mailing,)).fetchall() if ph == "full" and p in west}
    assert set(waiting) == full_west and full_west
    assert set(waiting.values()) == {datetime(2026, 11, 23, 16, 0, tzinfo=UTC)}
    assert not set(waiting) & set(sent_to(sim, mailing))
    assert early.sent == len(phones) - 1 - len(full_west)  # the east coast went out at 09:00
    # Still 07:59 in Los Angeles: nothing more goes out.
    assert send_phase(adb, client, mailing, "full", now=lambda: frozen + timedelta(hours=1, minutes=59)).sent == 0
    late = send_phase(adb, client, mailing, "full", now=lambda: datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    assert late.done and late.sent == len(waiting)
    assert set(sent_to(sim, mailing).values()) == {1}


def test_a_sample_below_the_threshold_stops_the_wave(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    requests.post(f"{sim.base_url}/sim/config", json={"wave": {"failure_rate": 1.0}}, timeout=10).raise_for_status()
    phones = known_phones(sim)[:40]
    setup_source(adb, phones)
    mailing = plan_wave(adb, spec(sample_threshold=0.8), request_key="dag/bad", stamp=STAMP,
                        short_link_base="https://t.example/r").mailing_name
    update_profiles(adb, client, mailing, "sample")
    send_phase(adb, client, mailing, "sample", now=lambda: ALL_AWAKE)
    with pytest.raises(SampleBelowThreshold, match=r"delivery rate 0\.0% \(0/5\) is below the threshold 80\.0%"):
        evaluate_sample(adb, client, load_mapping(), mailing, now=lambda: ALL_AWAKE,
                        short_link_base="https://t.example/r")
    assert send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE).sent == 0
    assert sends(sim)["total"] == 5
    report = wave_report(adb, mailing)
    assert report["status"] == "sample_failed" and "nobody else was sent" in report["reason"]
    with pytest.raises(SampleBelowThreshold):  # a retry of the gate gives the same answer
        evaluate_sample(adb, client, load_mapping(), mailing, now=lambda: ALL_AWAKE,
                        short_link_base="https://t.example/r")


def test_an_opt_out_after_the_plan_is_never_sent(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    phones = known_phones(sim)[:20]
    setup_source(adb, phones)
    mailing = through_the_sample(adb, client, "dag/optout", sample_size=1)
    pending = sorted(p for p, s in statuses(adb, mailing).items() if s == "pending")
    adb.execute("INSERT INTO sms_consent VALUES (%s, 'opted_out', 'late-stop', now(), 'STOP', %s)", (pending[0], SOURCE))
    progress = send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE)
    assert progress.skipped_opted_out == 1
    assert statuses(adb, mailing)[pending[0]] == "skipped_opted_out"
    assert pending[0] not in sent_to(sim, mailing)


def test_an_unknown_custom_field_fails_before_anything_is_sent(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    phones = known_phones(sim)[:10]
    setup_source(adb, phones, **{"shoe size": 42})
    mailing = plan_wave(adb, spec(), request_key="dag/field", stamp=STAMP,
                        short_link_base="https://t.example/r").mailing_name
    with pytest.raises(UnknownCustomField, match="'shoe_size'.*Nothing was sent"):
        start_profile_update(adb, client, mailing, "sample")
    assert sends(sim)["total"] == 0
    assert adb.execute("SELECT count(*) FROM wave_profile_imports WHERE mailing_name = %s",
                       (mailing,)).fetchone() == (0,)


def test_the_winning_variant_is_chosen_by_click_rate_and_used_for_the_full_send(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    requests.post(f"{sim.base_url}/sim/config", json={"wave": {"variant_lift": {"B": 3.0}}},
                  timeout=10).raise_for_status()
    phones = known_phones(sim)
    setup_source(adb, phones)
    variants = {"A": TEMPLATE, "B": "{given_name}, your code SAVE20 ends tonight: https://shop.example/b"}
    plan = plan_wave(adb, spec(variants=variants, sample_size=40, min_per_variant=15), request_key="dag/ab",
                     stamp=STAMP, short_link_base=sim.base_url + "/r")
    mailing = plan.mailing_name
    update_profiles(adb, client, mailing, "sample")
    send_phase(adb, client, mailing, "sample", now=lambda: ALL_AWAKE)
    result = evaluate_sample(adb, client, load_mapping(), mailing, now=lambda: ALL_AWAKE + timedelta(hours=3),
                             short_link_base=sim.base_url + "/r")
    assert result.winner == "B", result.winner_reason
    assert result.variant_stats["B"]["successes"] > result.variant_stats["A"]["successes"]
    update_profiles(adb, client, mailing, "full")
    send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE)
    bodies = adb.execute("SELECT variant, message_body FROM wave_recipients WHERE mailing_name = %s AND phase = 'full' "
                         "AND status = 'sent'", (mailing,)).fetchall()
    assert bodies and all(v == "B" and "SAVE20" in b for v, b in bodies)
    # Every short link resolves through the platform's redirect to its own target and counts a click.
    token = re.search(r"/r/(\S+)", bodies[0][1]).group(1)  # type: ignore[union-attr]
    r = requests.get(f"{sim.base_url}/r/{token}", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.example/b"
