"""Building a campaign: the same config gives the same bytes, and publication noise (duplicates, late
records) is added on top of the campaign without changing it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from simulator_campaigns import MESSY, hourly_windows

from sms_simulator import SimulatorConfig
from sms_simulator.build import build_campaign
from sms_simulator.records import Campaign
from sms_simulator.truth import campaign_truth, window_truth


@pytest.fixture(scope="module")
def messy() -> Campaign:
    return build_campaign(MESSY)


def test_same_config_gives_identical_bytes_and_another_seed_does_not(messy: Campaign) -> None:
    again = build_campaign(MESSY)
    first = [(p, r.to_json()) for p, r in zip(messy.published_us, messy.records, strict=True)]
    second = [(p, r.to_json()) for p, r in zip(again.published_us, again.records, strict=True)]
    assert first == second
    assert json.dumps(campaign_truth(messy)) == json.dumps(campaign_truth(again))
    other = build_campaign(replace(MESSY, seed=12))
    assert [r.to_json() for r in other.records[:50]] != [r.to_json() for r in messy.records[:50]]


def test_data_quality_knobs_leave_the_campaign_itself_unchanged(messy: Campaign) -> None:
    clean = build_campaign(SimulatorConfig(seed=MESSY.seed, recipients=300, mailings=3))
    assert campaign_truth(clean)["mailings"] == campaign_truth(messy)["mailings"]
    assert {r.status for r in clean.records} == {"original"}


def test_mailing_names_are_unique_sanitised_and_follow_the_campaign_tool_pattern() -> None:
    c = build_campaign(SimulatorConfig(recipients=5, mailings=10, campaign_code="SPRING26"))
    names = c.mailing_names()
    assert len(set(names)) == 10
    assert names[0] == "SPRING26_Wave1_Offer_20261120090000"
    for m in c.mailings:
        assert re.fullmatch(r"[A-Za-z0-9_]+", m.name)
        assert re.fullmatch(r"SPRING26_Wave\d+_[A-Za-z0-9_]+_\d{14}", m.name)
    assert "SPRING26_Wave3_Last_Chance_20261120130000" in names  # "Last Chance!" sanitised
    same_time = build_campaign(SimulatorConfig(recipients=1, mailings=9, mailing_interval=timedelta(0)))
    assert len(set(same_time.mailing_names())) == 9


def test_duplicates_repeat_the_same_envelope_in_the_same_or_next_hour(messy: Campaign) -> None:
    first_pub: dict[str, tuple[int, str]] = {}
    same_hour = next_hour = 0
    for pub, r in zip(messy.published_us, messy.records, strict=True):
        if r.status == "original":
            first_pub[r.events[0].event_id] = (pub, r.to_json())
    for pub, r in zip(messy.published_us, messy.records, strict=True):
        if r.status != "duplicate":
            continue
        orig_pub, orig_json = first_pub[r.events[0].event_id]
        assert r.to_json() == orig_json and pub >= orig_pub
        if pub // 3_600_000_000 == orig_pub // 3_600_000_000:
            same_hour += 1
        else:
            assert pub // 3_600_000_000 == orig_pub // 3_600_000_000 + 1
            next_hour += 1
    assert same_hour > next_hour > 0


def test_late_events_exist_only_when_asked_for(messy: Campaign) -> None:
    long_lag = [(p, r) for p, r in zip(messy.published_us, messy.records, strict=True) if r.long_lag]
    assert len(long_lag) > 0.05 * len(messy.records) * 0.8
    assert all(p - r.events[-1].at_us >= 3_600_000_000 for p, r in long_lag)
    assert sum(window_truth(messy, s, e)["late_events"] for s, e in hourly_windows(messy)) >= len(long_lag)
    clean = build_campaign(SimulatorConfig(seed=1, recipients=100, mailings=2))
    lags = [p - r.events[0].at_us for p, r in zip(clean.published_us, clean.records, strict=True)]
    assert 60_000_000 <= min(lags) and max(lags) <= 600_000_000
