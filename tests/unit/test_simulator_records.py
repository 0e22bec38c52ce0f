"""Rendered records: events follow the platform's contract, and every malformed kind is really broken."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from simulator_campaigns import MESSY, originals
from simulator_records import classify

from sms_simulator.build import build_campaign
from sms_simulator.records import Campaign
from sms_simulator.vocabulary import MALFORMED_KINDS, STOP_KEYWORDS


@pytest.fixture(scope="module")
def messy() -> Campaign:
    return build_campaign(MESSY)


def test_malformed_records_match_rate_and_every_kind_is_really_broken(messy: Campaign) -> None:
    n_orig = sum(r.status == "original" for r in messy.records)
    malformed = [r for r in messy.records if r.status == "malformed"]
    assert 0.15 < len(malformed) / n_orig < 0.25
    kinds = Counter(r.malformed_kind for r in malformed)
    assert set(kinds) == set(MALFORMED_KINDS)
    assert min(kinds.values()) >= 8, kinds
    for r in malformed:
        assert classify(messy.render(r)) == r.malformed_kind
    # Both "not an object" shapes: a JSON string and a list.
    shapes = {type(messy.render(r)).__name__ for r in malformed if r.malformed_kind == "envelope_not_object"}
    assert shapes == {"str", "list"}


def test_multi_event_envelopes_bundle_a_click_with_its_conversion(messy: Campaign) -> None:
    bundles = [messy.render(r) for r in messy.records if r.status == "original" and len(r.events) > 1]
    assert bundles
    for envelope in bundles:
        types = [{a["name"]: a["value"] for a in e["attributes"]}["interactionType"] for e in envelope["events"]]
        assert types == ["click", "conversion"]


def test_event_attributes_follow_the_contract(messy: Campaign) -> None:
    seen: set[str] = set()
    for e in originals(messy):
        assert e["eventId"] not in seen
        seen.add(e["eventId"])
        assert e["mailingName"] in messy.mailing_names()
        if e["code"] == "sentSMS":
            assert e["deliveryStatus"] in {"delivered", "failed", "undelivered"}
            assert (e["statusCode"] == "0") == (e["deliveryStatus"] == "delivered")
            assert int(e["statusCode"]) in {0, 30003, 30005, 30006, 30007, 30008}
            assert e["campaignCode"] == "SPRING26" and int(e["messageParts"]) >= 1
            assert {"programId", "programName", "messageBody", "carrierNetwork"} <= e.keys()
            continue
        it = e["interactionType"]
        required = {
            "click": {"url", "linkToken"},
            "conversion": {"url", "linkToken"},
            "reply": {"messageBody", "keyword"},
            "action": {"actionName"},
            "opt_out": {"keyword", "messageBody"},
            "opt_in": {"keyword"},
        }[it]
        assert required <= e.keys(), e
        if it == "reply":
            assert e["keyword"] == re.sub(r"[^A-Za-z0-9]", "", e["messageBody"].split()[0]).upper()
        if it == "opt_out":
            assert e["keyword"] in STOP_KEYWORDS
        if it == "opt_in":
            assert e["keyword"] in {"START", "UNSTOP"}
    sent = [e for e in originals(messy) if e["code"] == "sentSMS"]
    assert 0.04 < sum(e["deliveryStatus"] != "delivered" for e in sent) / len(sent) < 0.13
    assert {e["at"].utcoffset() for e in sent} > {timedelta(0)}  # some rendered with a US offset
