"""The simulator's Twilio transport as the demo and tests switch to it: ``start(sim, workdir)`` yields the
``sms_platform`` connection, the Airflow hook builds the Twilio source from it, and facts the platform
publishes later (a wave's sends) reach the receiver on the next sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sms_response.adapters import PlatformConnection
from sms_response.adapters.twilio import TwilioEventStreamsSource, source_from_connection
from sms_response.window import Window
from sms_simulator import SimulatorConfig, SimulatorServer, build_state
from sms_simulator.twilio import TwilioRun, running, start
from sms_simulator.twilio_render import UNPARSEABLE_TO, TwilioQuirks

CAMPAIGN_START = datetime(2026, 11, 20, 9, tzinfo=UTC)
CONFIG = SimulatorConfig(seed=3, recipients=40, mailings=1, campaign_start=CAMPAIGN_START)


def test_start_yields_the_connection_the_hook_turns_into_the_twilio_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sms_rt_airflow.hooks import SmsPlatformHook

    with SimulatorServer(build_state(CONFIG), token="sim-token") as sim, start(sim, tmp_path) as conn:
        assert conn["extra"]["platform"] == "twilio" and f"http://{conn['host']}:{conn['port']}" == sim.base_url
        monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(conn))
        source = SmsPlatformHook().event_source()
        assert isinstance(source, TwilioEventStreamsSource) and "sim-token" not in source.base_url
        window = Window(CAMPAIGN_START - timedelta(hours=1), CAMPAIGN_START + timedelta(days=2))
        records = [r for page in source.pages(window) for r in page.envelopes]
        sends = [f for f in sim.state.published_facts() if f.event.code == "sentSMS"]
        messages = {r["events"][0]["attributes"][0]["value"] for r in records
                    if r.get("events", [{}])[0].get("code") == "sentSMS"
                    and r["identifiers"][0]["value"] != UNPARSEABLE_TO}  # not the unusable extras
        assert len(messages) == len(sends)
        assert SmsPlatformHook().get_conn().contact_fields()["system"]  # the push side is still the simulator's


def sent_mailings(run: TwilioRun, now: datetime) -> list[str]:
    source = source_from_connection(PlatformConnection("twilio", "", extra=run.connection["extra"]))
    window = Window(now - timedelta(hours=2), now + timedelta(hours=2))
    return [a["value"] for page in source.pages(window) for r in page.envelopes
            if r.get("events", [{}])[0].get("code") == "sentSMS"
            for a in r["events"][0]["attributes"] if a["name"] == "mailingName"]


def test_facts_published_later_are_pushed_when_their_time_comes(tmp_path: Path) -> None:
    quirks = TwilioQuirks(slow_receipt_share=0.0)  # receipts within a minute of the send
    with SimulatorServer(build_state(CONFIG), token="sim-token") as sim, \
            running(sim, tmp_path, quirks=quirks, follow_seconds=None) as run:
        phone = sim.state.contacts()[0].e164
        assert phone is not None
        mailing = "SPRING26_Later_20261203000000"
        [result] = sim.push.send_batch([{"idempotency_key": "later-1", "phone": phone, "mailing_name": mailing,
                                         "body": "ShopCo: one more thing https://shop.example/later Reply STOP"}],
                                       sim.base_url)
        assert result["status"] == "accepted", result
        now = datetime.now(UTC)
        first = run.feed.sync()
        assert first.stored > 0 and first.pending > 0  # queued now; its receipt is still ahead
        assert sent_mailings(run, now) == []  # no final status yet: not reported
        run.feed.clock = lambda: now + timedelta(minutes=2)
        second = run.feed.sync()
        assert second.stored > 0 and run.feed.sync().stored == 0  # each event once
        assert sent_mailings(run, now) == [mailing]
