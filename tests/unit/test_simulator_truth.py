"""The simulator's truth: window totals add up and the segments match an independent recount."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest
from simulator_campaigns import HARD, MESSY, flat_events, hourly_windows, is_opt_out, originals
from simulator_records import classify

from sms_simulator.build import build_campaign
from sms_simulator.records import Campaign
from sms_simulator.truth import campaign_truth, window_truth


@pytest.fixture(scope="module")
def messy() -> Campaign:
    return build_campaign(MESSY)


def test_truth_adds_up_over_hourly_windows(messy: Campaign) -> None:
    totals: Counter[str] = Counter()
    seen: set[str] = set()
    for start, end in hourly_windows(messy):
        t = window_truth(messy, start, end)
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
    everything = campaign_truth(messy)["records"]
    assert totals["envelopes"] == everything["envelopes"] == len(messy.records)
    assert totals["records"] == everything["records"]
    assert totals["valid_events"] == sum(len(h.events) for h in messy.histories)


def test_campaign_truth_segments_match_an_independent_recount(messy: Campaign) -> None:
    by_phone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in originals(messy):
        by_phone[e["phone"]].append(e)
    truth = campaign_truth(messy)
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
