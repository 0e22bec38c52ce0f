"""Sample first, for profiles too: a wave pushes its sample's profiles, judges the sample (its import's reach and its
delivery), and only then pushes the rest of the audience's; a failed sample leaves the rest untouched on the platform.

Real PostgreSQL, the simulator over loopback HTTP; what the platform received is read from ``/sim/contact-imports``.
"""

from __future__ import annotations

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
from sms_response.waves.plan import plan_wave
from sms_response.waves.profiles import (
    UnknownCustomField,
    finish_profile_update,
    phase_import,
    require_profiles_pushed,
    start_profile_update,
)
from sms_response.waves.report import wave_report
from sms_response.waves.request import WaveError, WaveSpec
from sms_response.waves.sample_gate import SampleBelowThreshold, evaluate_sample
from sms_response.waves.send import send_phase
from sms_response.waves.store import wave_status
from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration
TOKEN = "profiles-token"
SOURCE = "SEED_Offer_20261120090000"
STAMP = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
ALL_AWAKE = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # midday across the US
LATER = ALL_AWAKE + timedelta(hours=2)
LINKS = "https://t.example/r"
TEMPLATE = "Hi {given_name}, 20% off today: https://shop.example/sale Reply STOP to end"


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
        s.push.clock = lambda: ALL_AWAKE
        yield s


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[SmsPlatformClient]:
    c = SmsPlatformClient(sim.base_url, TOKEN)
    yield c
    c.close()


def unknown_phones(sim: SimulatorServer, n: int) -> list[str]:
    """Valid numbers the platform has never seen: its import drops them as unknown."""
    known = set(known_phones(sim))
    return [p for p in (f"+1202555{i:04d}" for i in range(100, 1000)) if p not in known][:n]


def received_imports(sim: SimulatorServer) -> list[set[str]]:
    """The phones of every contact import the platform received, in order."""
    doc = requests.get(f"{sim.base_url}/sim/contact-imports", timeout=10).json()
    return [set(i["phones"]) for i in doc["imports"]]


def plan(conn: psycopg.Connection[Any], phones: list[str], **kw: Any) -> str:
    seed_segment(conn, SOURCE, dict.fromkeys(phones, "non_responders"))
    seed_contacts(conn, phones)
    base: dict[str, Any] = dict(campaign_code="SPRING26", wave_name="Reminder", source_mailing=SOURCE,
                                segment="non_responders", variants={"A": TEMPLATE}, sample_size=5,
                                sample_threshold=0.5, batch_size=10, min_per_variant=5)
    return plan_wave(conn, WaveSpec(**(base | kw)), request_key="dag/profiles", stamp=STAMP,
                     short_link_base=LINKS).mailing_name


def by_phase(conn: psycopg.Connection[Any], mailing: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"sample": set(), "full": set(), "holdout": set()}
    for phone, phase, holdout in conn.execute(
        "SELECT phone_e164, phase, holdout FROM wave_recipients WHERE mailing_name = %s", (mailing,),
    ).fetchall():
        out["holdout" if holdout else phase].add(phone)
    return out


def push(conn: psycopg.Connection[Any], client: SmsPlatformClient, mailing: str, phase: str) -> dict[str, Any]:
    """One phase's import started and polled to its end, as ProfileUpdateOperator and its trigger do."""
    started = start_profile_update(conn, client, mailing, phase)
    deadline = time.monotonic() + 10
    while not started.finished:
        assert started.import_id is not None
        status = client.contact_import_status(started.import_id)
        if status["status"] in ("Completed", "Failed"):
            return finish_profile_update(conn, mailing, phase, status).to_json()
        assert time.monotonic() < deadline, "the import never finished"
    return started.to_json()


def gate(conn: psycopg.Connection[Any], client: SmsPlatformClient, mailing: str) -> Any:
    return evaluate_sample(conn, client, load_mapping(), mailing, now=lambda: LATER, short_link_base=LINKS)


def test_the_sample_s_profiles_go_first_and_the_rest_only_after_the_gate_passed(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    phones = known_phones(sim)[:40]
    mailing = plan(adb, phones, holdout_pct=10)
    phases = by_phase(adb, mailing)
    assert len(phases["sample"]) == 5 and phases["full"] and phases["holdout"]

    sample = push(adb, client, mailing, "sample")
    assert received_imports(sim) == [phases["sample"]]
    assert sample | {"import_id": None} == {"mailing_name": mailing, "phase": "sample", "import_id": None,
                                            "status": "completed", "recipients": 5, "updated": 5,
                                            "dropped_unknown": 0, "reason": None}
    assert wave_status(adb, mailing) == "profiles_updated"
    # Before the gate the rest of the audience is refused, and nothing reaches the platform.
    with pytest.raises(WaveError, match="only when the wave is sample_passed"):
        start_profile_update(adb, client, mailing, "full")
    assert phase_import(adb, mailing, "full") is None and len(received_imports(sim)) == 1

    send_phase(adb, client, mailing, "sample", now=lambda: ALL_AWAKE)
    result = gate(adb, client, mailing)
    assert result.passed and result.profile_import["reach"] == 1.0 and result.profile_import["updated"] == 5
    assert len(received_imports(sim)) == 1  # the gate pushed nothing either

    full = push(adb, client, mailing, "full")
    assert received_imports(sim) == [phases["sample"], phases["full"]]
    assert full["status"] == "completed" and full["recipients"] == full["updated"] == len(phases["full"])
    assert not phases["holdout"] & set().union(*received_imports(sim))  # the holdout gets nothing, ever
    assert sim.push.contacts.profile(sorted(phases["full"])[0])["first_name"].startswith("Name")
    send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE)
    report = wave_report(adb, mailing)
    assert report["status"] == "completed" and report["dropped_unknown"] == 0
    assert [report["profile_imports"][p]["status"] for p in ("sample", "full")] == ["completed", "completed"]
    assert report["sample"]["profile_import"]["recipients"] == 5


def test_a_retried_phase_import_is_started_once_and_finished_once(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    phones = known_phones(sim)[:20]
    mailing = plan(adb, phones[:19] + unknown_phones(sim, 1), sample_size=20)  # everyone in the sample
    first = start_profile_update(adb, client, mailing, "sample")
    retried = start_profile_update(adb, client, mailing, "sample")  # a retried task, before the import finished
    assert first.status == retried.status == "started" and retried.import_id == first.import_id
    assert len(received_imports(sim)) == 1
    assert first.import_id is not None
    polls = [client.contact_import_status(first.import_id) for _ in range(2)]  # Processing, then Completed
    status = polls[-1]
    assert [p["status"] for p in polls] == ["Processing", "Completed"]
    done = finish_profile_update(adb, mailing, "sample", status)
    assert (done.updated, done.dropped_unknown) == (19, 1)
    # A second trigger event (even a contradicting one) changes nothing: finished once.
    again = finish_profile_update(adb, mailing, "sample", {"status": "Failed", "message": "late"})
    assert again == done and wave_status(adb, mailing) == "profiles_updated"
    assert start_profile_update(adb, client, mailing, "sample") == done and len(received_imports(sim)) == 1
    dropped = adb.execute("SELECT phone_e164 FROM wave_recipients WHERE mailing_name = %s AND status = 'dropped'",
                          (mailing,)).fetchall()
    assert dropped == [(unknown_phones(sim, 1)[0],)]
    # Reach 95 % passes the 50 % threshold; the gate records the import's figures with its decision.
    send_phase(adb, client, mailing, "sample", now=lambda: ALL_AWAKE)
    assert gate(adb, client, mailing).passed
    stored = adb.execute("SELECT sample_stats FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    assert stored is not None and stored[0]["profile_import"] | {"import_id": None} == {
        "import_id": None, "recipients": 20, "updated": 19, "dropped_unknown": 1, "reach": 0.95}
    # Nobody is left for the full phase: it completes without calling the platform.
    full = start_profile_update(adb, client, mailing, "full")
    assert (full.status, full.import_id, full.recipients) == ("completed", None, 0)
    assert len(received_imports(sim)) == 1


def test_a_sample_import_that_drops_too_many_numbers_fails_the_gate_and_pushes_no_one_else(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    known = known_phones(sim)[:10]
    mailing = plan(adb, known + unknown_phones(sim, 70), sample_size=10, sample_threshold=0.5)
    phases = by_phase(adb, mailing)
    reachable = phases["sample"] & set(known)
    assert len(reachable) < 5 and phases["full"] & set(known)  # the seeded draw: most of the sample is unknown
    imp = push(adb, client, mailing, "sample")
    assert (imp["updated"], imp["dropped_unknown"]) == (len(reachable), 10 - len(reachable))
    assert send_phase(adb, client, mailing, "sample", now=lambda: ALL_AWAKE).sent == len(reachable)
    reach = f"{len(reachable) / 10:.1%}"
    with pytest.raises(SampleBelowThreshold, match=rf"dropped {10 - len(reachable)} of 10 number\(s\) as unknown.*"
                                                   rf"only {reach} of the sample could be reached, below the "
                                                   r"threshold 50\.0%.*nobody else was pushed or sent"):
        gate(adb, client, mailing)
    row = adb.execute("SELECT status, sample_stats FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    assert row is not None and row[0] == "sample_failed"
    assert row[1]["profile_import"]["dropped_unknown"] == 10 - len(reachable)
    assert row[1]["profile_import"]["reach"] == len(reachable) / 10
    with pytest.raises(SampleBelowThreshold):  # a retried gate gives the same answer
        gate(adb, client, mailing)
    with pytest.raises(WaveError, match="is sample_failed.*the rest of the audience was left untouched"):
        start_profile_update(adb, client, mailing, "full")
    assert received_imports(sim) == [phases["sample"]]
    assert not any(sim.push.contacts.profile(p) for p in phases["full"] & set(known))
    assert send_phase(adb, client, mailing, "full", now=lambda: ALL_AWAKE).sent == 0
    assert set(sent_per_phone(sim.push.send_counts(), mailing)) == reachable


def test_a_failed_sample_import_fails_the_wave_before_anything_is_sent(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    mailing = plan(adb, known_phones(sim)[:20])
    started = start_profile_update(adb, client, mailing, "sample")
    with pytest.raises(WaveError, match=r"contact import failed \(sample phase.*file rejected; nothing was sent"):
        finish_profile_update(adb, mailing, "sample", {"status": "Failed", "message": "file rejected"})
    assert wave_status(adb, mailing) == "failed"
    failed = phase_import(adb, mailing, "sample")
    assert failed is not None and (failed.status, failed.import_id) == ("failed", started.import_id)
    # Terminal: a retry neither starts another import nor lets the sample (or anyone) be sent.
    with pytest.raises(WaveError, match="file rejected"):
        start_profile_update(adb, client, mailing, "sample")
    with pytest.raises(WaveError, match="were not pushed"):
        require_profiles_pushed(adb, mailing, "sample")
    with pytest.raises(WaveError, match="is failed"):
        start_profile_update(adb, client, mailing, "full")
    with pytest.raises(WaveError, match="were not pushed"):
        gate(adb, client, mailing)
    assert len(received_imports(sim)) == 1 and sim.push.send_counts()["total"] == 0


def test_an_unknown_attribute_of_a_full_phase_contact_fails_before_the_sample_is_pushed(
    adb: psycopg.Connection[Any], sim: SimulatorServer, client: SmsPlatformClient
) -> None:
    mailing = plan(adb, known_phones(sim)[:30])
    full_phone = sorted(by_phase(adb, mailing)["full"])[0]
    adb.execute("""UPDATE contacts SET custom = '{"shoe size": 42}' WHERE phone_e164 = %s""", (full_phone,))
    with pytest.raises(UnknownCustomField, match="'shoe_size'"):
        start_profile_update(adb, client, mailing, "sample")
    assert received_imports(sim) == [] and phase_import(adb, mailing, "sample") is None

