"""Consent is absolute, on the send path: for random consent histories (imported as the pipeline imports them),
random segments and random opt-outs arriving between the plan and the send, no opted-out number is ever in a
batch that goes to the platform."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wave_fixtures import known_phones, seed_contacts, seed_segment

from sms_response.db import connect
from sms_response.landing import LandingWriter
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.platform import SmsPlatformClient
from sms_response.waves.audience import not_sendable
from sms_response.waves.plan import plan_wave
from sms_response.waves.profiles import finish_profile_update, start_profile_update
from sms_response.waves.request import WaveSpec
from sms_response.waves.sample_gate import evaluate_sample
from sms_response.waves.send import send_phase
from sms_response.window import Window
from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration
TOKEN = "consent-token"
SOURCE = "SEED_Offer_20261120090000"
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
AWAKE = datetime(2026, 11, 23, 17, tzinfo=UTC)
OPT = [("opt_out", {"keyword": "STOP"}), ("opt_in", {"keyword": "START"}), ("reply", {"messageBody": "STOP"}),
       ("reply", {"messageBody": "unstop"}), ("reply", {"messageBody": "Quit"}), ("reply", {"messageBody": "ok"})]
N = 16
_runs = itertools.count()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    state = build_state(SimulatorConfig(seed=5, recipients=60, mailings=1, campaign_start=T0))
    with SimulatorServer(state, token=TOKEN) as s:
        s.push.clock = lambda: AWAKE
        yield s


class RecordingClient(SmsPlatformClient):
    """The real client; it also keeps every batch it sends so the test can inspect them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[str]] = []

    def send_batch(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append([m["phone"] for m in messages])
        return super().send_batch(messages)


def push_profiles(conn: Any, client: SmsPlatformClient, mailing: str, phase: str) -> None:
    """One phase's contact import, started and polled to its end (the wave DAG's update_profiles_<phase>)."""
    started = start_profile_update(conn, client, mailing, phase)
    while not started.finished:
        assert started.import_id is not None
        status = client.contact_import_status(started.import_id)
        if status["status"] in ("Completed", "Failed"):
            started = finish_profile_update(conn, mailing, phase, status)


def envelope(i: int, phone: str, kind: int, minute: int) -> dict[str, Any]:
    itype, extra = OPT[kind]
    attrs = {"eventId": f"e{i:03d}", "mailingName": SOURCE, "interactionType": itype, **extra}
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
            "events": [{"code": "interactedSMS", "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
                        "attributes": [{"name": k, "value": v, "type": "string"} for k, v in attrs.items()]}]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=st.lists(st.tuples(st.integers(0, N - 1), st.integers(0, len(OPT) - 1), st.integers(0, 59)), max_size=25),
    members=st.dictionaries(st.integers(0, N - 1), st.sampled_from(["responders", "non_responders"]), min_size=1),
    late_opt_outs=st.sets(st.integers(0, N - 1), max_size=5),
    segment=st.sampled_from(["responders", "non_responders"]),
    batch_size=st.integers(1, 6),
)
def test_no_opted_out_number_is_ever_in_a_send_batch(
    pg_url: str, schema: str, sim: SimulatorServer, tmp_path: Path, history: list[tuple[int, int, int]],
    members: dict[int, str], late_opt_outs: set[int], segment: str, batch_size: int,
) -> None:
    phones = known_phones(sim)[:N]
    run = next(_runs)
    conn = connect(pg_url, schema, autocommit=True)
    client = RecordingClient(sim.base_url, TOKEN)
    try:
        conn.execute("TRUNCATE sms_interactions, sms_sent, event_index, event_rejects, sms_consent, load_log, "
                     "segment_current, segment_members, segment_runs, wave_recipients, short_links, wave_runs, "
                     "contacts, mailings CASCADE")
        window = Window(T0, T0 + timedelta(hours=1))
        root = tmp_path / f"land{run}"
        writer = LandingWriter(root, window.id)
        for i, (who, kind, minute) in enumerate(history):
            writer.write(envelope(i, phones[who], kind, minute))
        writer.commit({"window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
                       "filters": {}, "pages": 1, "source": "hypothesis", "downloaded_at": "x"})
        with conn.transaction():
            import_window(conn, schema, root, window, load_mapping())
        seed_segment(conn, SOURCE, {phones[i]: s for i, s in members.items()})
        seed_contacts(conn, phones)
        spec = WaveSpec(campaign_code="PROP", wave_name=f"Run{run}", source_mailing=SOURCE, segment=segment,
                        variants={"A": "Hi {given_name} https://shop.example/x"}, sample_size=2,
                        sample_threshold=0.0, batch_size=batch_size, min_per_variant=0)
        plan = plan_wave(conn, spec, request_key=f"prop/{run}", stamp=AWAKE, short_link_base="https://t.example/r")
        opted_at_plan = set(not_sendable(conn, phones, "opt_in_required"))
        # Opt-outs that arrive after the plan, before the send (STOP replies imported by the pipeline).
        for j, who in enumerate(sorted(late_opt_outs)):
            conn.execute("INSERT INTO sms_consent VALUES (%s, 'opted_out', %s, now(), 'STOP', %s) "
                         "ON CONFLICT (phone_e164) DO UPDATE SET status = 'opted_out'", (phones[who], f"late{j}", SOURCE))
        push_profiles(conn, client, plan.mailing_name, "sample")
        send_phase(conn, client, plan.mailing_name, "sample", now=lambda: AWAKE)
        evaluate_sample(conn, client, load_mapping(), plan.mailing_name, now=lambda: AWAKE,
                        short_link_base="https://t.example/r")
        push_profiles(conn, client, plan.mailing_name, "full")
        send_phase(conn, client, plan.mailing_name, "full", now=lambda: AWAKE)
        opted_out = opted_at_plan | {phones[i] for i in late_opt_outs}
        sent = {p for batch in client.batches for p in batch}
        assert not sent & opted_out
        # Everyone else of the segment was sent, exactly once.
        expected = {phones[i] for i, s in members.items() if s == segment} - opted_out
        assert sent == expected
        assert sum(len(b) for b in client.batches) == len(sent)
        assert all(len(b) <= batch_size for b in client.batches)
    finally:
        client.close()
        conn.close()
