"""The Twilio truth of campaign metrics up to a time: what windows ending then can hold (a message counts as a
send once its terminal status is in; an interaction once it happened), computed from the rendering itself."""

from __future__ import annotations

from datetime import UTC, datetime

from sms_simulator import SimulatorConfig, build_state
from sms_simulator.clock import from_us
from sms_simulator.metrics_query import MetricsQuery
from sms_simulator.twilio_render import TwilioRenderer
from sms_simulator.twilio_truth import metrics


def test_a_message_whose_carrier_receipt_comes_after_until_is_not_yet_a_send() -> None:
    state = build_state(SimulatorConfig(seed=3, recipients=300, mailings=1,
                                        campaign_start=datetime(2026, 11, 20, 9, tzinfo=UTC)))
    rendering = TwilioRenderer().render(state.published_facts(None))
    slow = [m for m in rendering.messages if m.fact is not None and m.terminal_us - m.queued_us > 20 * 60 * 10**6]
    assert slow, "the rendering has slow carrier receipts"
    # Just after the first slow message was queued, before its receipt: counted by hand from the rendering.
    until_us = min(m.queued_us for m in slow) + 60 * 10**6
    expected = sum(1 for m in rendering.messages if m.fact is not None and m.terminal_us < until_us)
    got = metrics(rendering, MetricsQuery(until=from_us(until_us)))
    assert sum(int(m["sent"]) for m in got["mailings"].values()) == expected
    everything = metrics(rendering, MetricsQuery())
    assert sum(int(m["sent"]) for m in everything["mailings"].values()) > expected
