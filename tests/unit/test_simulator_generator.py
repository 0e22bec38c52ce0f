"""The behaviour model: valid, varied phones, and opt-out rules no recipient breaks."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

import phonenumbers
import pytest
from simulator_campaigns import MESSY, OPT_HEAVY, is_opt_out, originals
from simulator_records import classify

from sms_simulator.build import build_campaign
from sms_simulator.records import Campaign
from sms_simulator.truth import campaign_truth


@pytest.fixture(scope="module")
def messy() -> Campaign:
    return build_campaign(MESSY)


@pytest.fixture(scope="module")
def opt_heavy() -> Campaign:
    return build_campaign(OPT_HEAVY)


def test_every_normal_phone_is_valid_and_formats_vary(messy: Campaign) -> None:
    shapes: Counter[str] = Counter()
    phones = set()
    for r in messy.recipients:
        parsed = phonenumbers.parse(r.display_phone, "US")
        assert phonenumbers.is_valid_number(parsed), r.display_phone
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == r.e164
        phones.add(r.e164)
        if re.fullmatch(r"\+\d+", r.display_phone):
            shapes["e164"] += 1
        elif r.display_phone.startswith("("):
            shapes["us_parens"] += 1
        elif r.display_phone.startswith("+44 "):
            shapes["gb_spaced"] += 1
        else:
            assert re.fullmatch(r"\d{3}-\d{3}-\d{4}", r.display_phone)
            shapes["us_dashed"] += 1
    assert len(phones) == len(messy.recipients)
    assert min(shapes.values()) >= 3 and len(shapes) == 4 and shapes["e164"] > 200
    assert all(classify(messy.render(r)) is None for r in messy.records if r.status != "malformed")


def test_no_send_after_opt_out_and_only_rare_clicks_while_opted_out(opt_heavy: Campaign) -> None:
    by_phone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in originals(opt_heavy):
        by_phone[e["phone"]].append(e)
    stop_replies = clicks_while_out = opt_outs = 0
    for events in by_phone.values():
        opted_out = False
        for e in sorted(events, key=lambda e: e["at"]):
            if is_opt_out(e):
                assert not opted_out, "opt-out while already opted out"
                opted_out, opt_outs = True, opt_outs + 1
                stop_replies += e["interactionType"] == "reply"
            elif e.get("interactionType") == "opt_in":
                assert opted_out
                opted_out = False
            elif opted_out:
                assert e["code"] == "interactedSMS" and e["interactionType"] == "click", e
                clicks_while_out += 1
    truth = campaign_truth(opt_heavy)["mailings"]
    assert opt_outs == sum(m["opt_outs"] for m in truth) > 20
    assert 0 < stop_replies == sum(m["opt_outs_via_reply"] for m in truth) < opt_outs
    assert 0 < clicks_while_out == sum(m["clicks_after_opt_out"] for m in truth)
    assert sum(m["suppressed_opted_out"] for m in truth) > 0
