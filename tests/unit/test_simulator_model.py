"""The simulator's behaviour model: determinism, realism rules and self-consistent truth.

Envelopes are checked with a small validator written here, independently of the
simulator, so the model cannot agree with itself by construction.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from simulator_records import classify

from sms_simulator import FaultConfig, PlatformState, SimulatorConfig, build_state
from sms_simulator.faults import FaultDecider, decide
from sms_simulator.model import MALFORMED_KINDS, STOP_KEYWORDS, Campaign, build_campaign
from sms_simulator.state import PageError

REPO = Path(__file__).resolve().parents[2]
H = timedelta(hours=1)
MESSY = SimulatorConfig(
    seed=11,
    recipients=300,
    mailings=3,
    duplicate_rate=0.05,
    malformed_rate=0.2,
    late_rate=0.1,
    multi_event_rate=0.3,
)
# Enough opt-outs in 300 recipients to see every opt-out path, including the rare ones.
OPT_HEAVY = SimulatorConfig(
    seed=3, recipients=300, mailings=4, opt_out_rate=0.25, opt_in_rate=0.5, click_after_opt_out_rate=0.5
)
HARD = {30005, 30006}


@pytest.fixture(scope="module")
def messy() -> Campaign:
    return build_campaign(MESSY)


@pytest.fixture(scope="module")
def opt_heavy() -> Campaign:
    return build_campaign(OPT_HEAVY)




def flat_events(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid envelope -> one dict per event with phone (E.164), code, time and attributes."""
    phone = next(i["value"] for i in envelope["identifiers"] if i["name"] == "phoneNumber")
    e164 = phonenumbers.format_number(phonenumbers.parse(phone, "US"), phonenumbers.PhoneNumberFormat.E164)
    out = []
    for event in envelope["events"]:
        attrs = {a["name"]: a["value"] for a in event["attributes"]}
        out.append({"phone": e164, "code": event["code"], "at": datetime.fromisoformat(event["timestamp"]), **attrs})
    return out


def is_opt_out(e: dict[str, Any]) -> bool:
    it = e.get("interactionType")
    return it == "opt_out" or (it == "reply" and e.get("keyword") in STOP_KEYWORDS)


def originals(c: Campaign) -> list[dict[str, Any]]:
    return [e for r in c.records if r.status == "original" for e in flat_events(c.render(r))]


def hourly_windows(c: Campaign) -> list[tuple[datetime, datetime]]:
    first = datetime.fromtimestamp(c.published_us[0] / 1e6, UTC).replace(minute=0, second=0, microsecond=0)
    last = datetime.fromtimestamp(c.published_us[-1] / 1e6, UTC)
    n = int((last - first) / H) + 1
    return [(first + i * H, first + (i + 1) * H) for i in range(n)]


# -- determinism ---------------------------------------------------------------


def test_same_config_gives_identical_bytes_and_another_seed_does_not(messy: Campaign) -> None:
    again = build_campaign(MESSY)
    first = [(p, r.to_json()) for p, r in zip(messy.published_us, messy.records, strict=True)]
    second = [(p, r.to_json()) for p, r in zip(again.published_us, again.records, strict=True)]
    assert first == second
    assert json.dumps(messy.truth_all()) == json.dumps(again.truth_all())
    other = build_campaign(replace(MESSY, seed=12))
    assert [r.to_json() for r in other.records[:50]] != [r.to_json() for r in messy.records[:50]]


def test_data_quality_knobs_leave_the_campaign_itself_unchanged(messy: Campaign) -> None:
    clean = build_campaign(SimulatorConfig(seed=MESSY.seed, recipients=300, mailings=3))
    assert clean.truth_all()["mailings"] == messy.truth_all()["mailings"]
    assert {r.status for r in clean.records} == {"original"}


# -- mailings and phones -----------------------------------------------------------


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


# -- data quality ----------------------------------------------------------------


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
    assert sum(messy.truth(s, e)["late_events"] for s, e in hourly_windows(messy)) >= len(long_lag)
    clean = build_campaign(SimulatorConfig(seed=1, recipients=100, mailings=2))
    lags = [p - r.events[0].at_us for p, r in zip(clean.published_us, clean.records, strict=True)]
    assert 60_000_000 <= min(lags) and max(lags) <= 600_000_000


def test_multi_event_envelopes_bundle_a_click_with_its_conversion(messy: Campaign) -> None:
    bundles = [messy.render(r) for r in messy.records if r.status == "original" and len(r.events) > 1]
    assert bundles
    for envelope in bundles:
        types = [{a["name"]: a["value"] for a in e["attributes"]}["interactionType"] for e in envelope["events"]]
        assert types == ["click", "conversion"]


# -- behaviour rules -------------------------------------------------------------


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
    truth = opt_heavy.truth_all()["mailings"]
    assert opt_outs == sum(m["opt_outs"] for m in truth) > 20
    assert 0 < stop_replies == sum(m["opt_outs_via_reply"] for m in truth) < opt_outs
    assert 0 < clicks_while_out == sum(m["clicks_after_opt_out"] for m in truth)
    assert sum(m["suppressed_opted_out"] for m in truth) > 0


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


# -- truth ------------------------------------------------------------------------


def test_truth_adds_up_over_hourly_windows(messy: Campaign) -> None:
    totals: Counter[str] = Counter()
    seen: set[str] = set()
    for start, end in hourly_windows(messy):
        t = messy.truth(start, end)
        assert t["records"] == t["valid_events"] + t["duplicates"] + t["malformed"]
        assert sum(t["malformed_by_kind"].values()) == t["malformed"]
        per_mailing = sum(b[code]["total"] for b in t["by_mailing"].values() for code in b)
        assert per_mailing == t["valid_events"]
        # The window's records, classified independently, agree with its truth.
        got: Counter[str] = Counter()
        lo, hi = (int(x.timestamp() * 1_000_000) for x in (start, end))
        for pub, r in zip(messy.published_us, messy.records, strict=True):
            if not lo <= pub < hi:
                continue
            envelope = messy.render(r)
            kind = classify(envelope)
            if kind is not None:
                got["malformed"] += 1
                continue
            for e in flat_events(envelope):
                got["duplicates" if e["eventId"] in seen else "valid_events"] += 1
                seen.add(e["eventId"])
        assert (got["valid_events"], got["duplicates"], got["malformed"]) == (
            t["valid_events"],
            t["duplicates"],
            t["malformed"],
        )
        totals.update({k: t[k] for k in ("records", "valid_events", "duplicates", "malformed", "envelopes")})
    everything = messy.truth_all()["records"]
    assert totals["envelopes"] == everything["envelopes"] == len(messy.records)
    assert totals["records"] == everything["records"]
    assert totals["valid_events"] == sum(len(h.events) for h in messy.histories)


def test_truth_all_segments_match_an_independent_recount(messy: Campaign) -> None:
    by_phone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in originals(messy):
        by_phone[e["phone"]].append(e)
    truth = messy.truth_all()
    for m in truth["mailings"]:
        responders, non_responders = [], []
        for phone, events in by_phone.items():
            events.sort(key=lambda e: e["at"])
            send = next((e for e in events if e["code"] == "sentSMS" and e["mailingName"] == m["name"]), None)
            if send is None or send["deliveryStatus"] != "delivered":
                continue
            opt_outs = [e["at"] for e in events if is_opt_out(e) and e["at"] >= send["at"]]
            deadline = min([send["at"] + timedelta(hours=72), *opt_outs[:1]])
            responded = any(
                e["code"] == "interactedSMS"
                and e["mailingName"] == m["name"]
                and e["interactionType"] in {"click", "reply", "action", "conversion"}
                and not is_opt_out(e)
                and send["at"] <= e["at"] < deadline
                for e in events
            )
            opt_events = [e for e in events if is_opt_out(e) or e.get("interactionType") == "opt_in"]
            out_at_end = bool(opt_events) and is_opt_out(opt_events[-1])
            hard = any(e["code"] == "sentSMS" and int(e["statusCode"]) in HARD for e in events)
            if responded:
                responders.append(phone)
            elif not out_at_end and not hard:
                non_responders.append(phone)
        assert sorted(responders) == m["responder_phones"]
        assert sorted(non_responders) == m["non_responder_phones"]
        assert m["responders"] > 20 and m["non_responders"] > 100
        assert m["responders"] + m["non_responders"] <= m["delivered"]


# -- state -------------------------------------------------------------------------


def test_state_publish_appends_originals_duplicates_and_declared_junk() -> None:
    state = build_state(SimulatorConfig(seed=2, recipients=20, mailings=1))
    at = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    envelope = {
        "channel": "SMS",
        "identifiers": [{"name": "phoneNumber", "value": "+12015550123"}],
        "events": [
            {
                "code": "sentSMS",
                "timestamp": "2026-11-21T12:29:00+00:00",
                "attributes": [
                    {"name": "eventId", "value": "batch-1", "type": "string"},
                    {"name": "mailingName", "value": "SPRING26_Batch_20261121122900", "type": "string"},
                    {"name": "deliveryStatus", "value": "delivered", "type": "string"},
                ],
            }
        ],
    }
    state.publish(envelope, at)
    state.publish(envelope, at + timedelta(minutes=5))
    state.publish({"channel": "SMS"}, at, malformed_kind="events_missing")
    with pytest.raises(ValueError):
        state.publish({"channel": "SMS"}, at)
    window = (at.replace(minute=0), at.replace(minute=0) + H)
    data, cursor = state.page(*window, limit=10)
    assert cursor is None and data[0] == envelope and data[1] == {"channel": "SMS"} and data[2] == envelope
    t = state.truth(*window)
    assert (t["records"], t["valid_events"], t["duplicates"], t["malformed"]) == (3, 1, 1, 1)
    assert t["malformed_by_kind"]["events_missing"] == 1
    assert state.page(*window, codes=["sentSMS"])[0] == [envelope, envelope]


def test_keyset_cursor_is_stable_and_rejects_foreign_windows() -> None:
    state = build_state(SimulatorConfig(seed=4, recipients=80, mailings=1))
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    first, cursor = state.page_json(start, start + H, limit=25)
    assert cursor is not None
    second, _ = state.page_json(start, start + H, cursor=cursor, limit=25)
    # Publishing into the already-read part of the window must not shift the next page.
    state.publish(json.loads(first[0]), start + timedelta(seconds=1))
    assert state.page_json(start, start + H, cursor=cursor, limit=25)[0] == second
    for bad in ("not-base64!", cursor[:-3], "eyJ2IjoxfQ"):
        with pytest.raises(PageError):
            state.page_json(start, start + H, cursor=bad)
    with pytest.raises(PageError):
        state.page_json(start, start + 2 * H, cursor=cursor, limit=25)
    with pytest.raises(PageError):
        state.page_json(start, start + H, cursor=cursor, limit=25, codes=["sentSMS"])
    with pytest.raises(PageError):
        state.page_json(start + H, start)
    with pytest.raises(PageError):
        state.page_json(start, start + H, limit=5001)


# -- faults ------------------------------------------------------------------------


def test_fault_decisions_are_reproducible_and_bounded_per_page() -> None:
    config = FaultConfig(rate_429=0.5, rate_5xx=0.5, max_faults_per_page=2, fault_seed=9)
    assert decide(config, "page-a", 0, 0) == decide(config, "page-a", 0, 0)
    decider = FaultDecider(config)
    outcomes = [decider.decide("page-a").fault for _ in range(6)]
    assert outcomes[:2] != [None, None] and outcomes[2] is None  # at most two failures in a row
    replay = FaultDecider(config)
    assert [replay.decide("page-a").fault for _ in range(6)] == outcomes
    assert FaultDecider(FaultConfig()).decide("x").fault is None
    with pytest.raises(ValueError):
        config.updated({"rate_cut": 0.5})  # 0.5 + 0.5 + 0.5 > 1
    with pytest.raises(ValueError):
        config.updated({"nope": 1})
    assert config.updated({"retry_after": 3}).retry_after == 3


# -- CLI ---------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "SMS_SIM_TOKEN"}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "include"), base.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "sms_simulator", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_truth_matches_the_library_and_serve_needs_a_token() -> None:
    model = ["--seed", "5", "--recipients", "40", "--mailings", "2", "--duplicate-rate", "0.1"]
    window = ["--start", "2026-11-20T09:00:00Z", "--end", "2026-11-20T12:00:00Z"]
    out = _cli("truth", *model, *window)
    assert out.returncode == 0, out.stderr
    expected = PlatformState(build_campaign(SimulatorConfig(seed=5, recipients=40, mailings=2, duplicate_rate=0.1)))
    start, end = datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert json.loads(out.stdout) == json.loads(json.dumps(expected.truth(start, end)))
    refused = _cli("serve", *model, "--port", "0")
    assert refused.returncode == 2 and "SMS_SIM_TOKEN" in refused.stderr
