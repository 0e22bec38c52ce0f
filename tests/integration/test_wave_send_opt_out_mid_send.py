"""An opt-out imported while a wave is sending (between two of its batches) is skipped, and the wave goes on.

Found by the load test (tests/faults/test_load.py): hourly imports run while a wave sends, and the per-batch
consent check used to raise ``ConsentViolation``, failing the send task half way, instead of skipping the number.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from wave_fixtures import known_phones, seed_contacts, seed_segment, sent_per_phone

from sms_response.db import connect
from sms_response.mapping import load_mapping
from sms_response.platform import SmsPlatformClient
from sms_response.waves.plan import plan_wave
from sms_response.waves.profiles import finish_profile_update, start_profile_update
from sms_response.waves.request import WaveSpec
from sms_response.waves.sample_gate import evaluate_sample
from sms_response.waves.send import SendProgress, send_phase
from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration
TOKEN = "mid-send-token"
SOURCE = "SEED_Offer_20261120090000"
AWAKE = datetime(2026, 11, 23, 17, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    state = build_state(SimulatorConfig(seed=5, recipients=40, mailings=1,
                                        campaign_start=datetime(2026, 11, 20, 9, tzinfo=UTC)))
    with SimulatorServer(state, token=TOKEN) as s:
        s.push.clock = lambda: AWAKE
        yield s


def push_profiles(conn: psycopg.Connection[Any], client: SmsPlatformClient, mailing: str, phase: str) -> None:
    started = start_profile_update(conn, client, mailing, phase)
    deadline = time.monotonic() + 10
    while not started.finished:
        assert started.import_id is not None and time.monotonic() < deadline
        status = client.contact_import_status(started.import_id)
        if status["status"] in ("Completed", "Failed"):
            finish_profile_update(conn, mailing, phase, status)
            return


def test_an_opt_out_imported_between_two_batches_is_skipped_and_the_rest_is_sent(
    pg_url: str, schema: str, sim: SimulatorServer
) -> None:
    conn = connect(pg_url, schema, autocommit=True)
    client = SmsPlatformClient(sim.base_url, TOKEN)
    phones = known_phones(sim)[:25]
    seed_segment(conn, SOURCE, dict.fromkeys(phones, "non_responders"))
    seed_contacts(conn, phones)
    spec = WaveSpec(campaign_code="SPRING26", wave_name="Mid Send", source_mailing=SOURCE, segment="non_responders",
                    variants={"A": "Hi {given_name}: https://shop.example/sale Reply STOP to end"}, sample_size=5,
                    sample_threshold=0.5, batch_size=5, min_per_variant=5)
    mailing = plan_wave(conn, spec, request_key="dag/mid-send", stamp=AWAKE, short_link_base="https://t.example/r"
                        ).mailing_name
    push_profiles(conn, client, mailing, "sample")
    send_phase(conn, client, mailing, "sample", now=lambda: AWAKE)
    assert evaluate_sample(conn, client, load_mapping(), mailing, now=lambda: AWAKE,
                           short_link_base="https://t.example/r").passed
    push_profiles(conn, client, mailing, "full")

    sim.push.send_gate.arm(7)  # the full phase's first batch goes, the second is held after 2 messages
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["progress"] = send_phase(connect(pg_url, schema, autocommit=True), client, mailing, "full",
                                             now=lambda: AWAKE)
        except Exception as exc:  # handed to the test thread
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert sim.push.send_gate.wait_blocked(timeout=30)
        # An import brings an opt-out of a recipient of a later batch while the platform works on this one.
        later = sorted(r[0] for r in conn.execute(
            "SELECT phone_e164 FROM wave_recipients WHERE mailing_name = %s AND status = 'pending'", (mailing,)))
        conn.execute("INSERT INTO sms_consent VALUES (%s, 'opted_out', 'mid-send-stop', now(), 'STOP', %s)",
                     (later[0], SOURCE))
    finally:
        sim.push.send_gate.release()
        sender.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    progress: SendProgress = outcome["progress"]
    assert progress.done and progress.skipped_opted_out == 1 and progress.sent == 19
    statuses = dict(conn.execute("SELECT phone_e164, status FROM wave_recipients WHERE mailing_name = %s",
                                 (mailing,)).fetchall())
    assert statuses[later[0]] == "skipped_opted_out"
    assert {s for p, s in statuses.items() if p != later[0]} == {"sent"}
    counts = sent_per_phone(sim.push.send_counts(), mailing)
    assert later[0] not in counts and set(counts.values()) == {1} and len(counts) == 24
    client.close()
    conn.close()
