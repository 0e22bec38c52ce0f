"""The campaign metrics truth: the glossary's figures equal an independent recount of the published envelopes,
and its edge rules (opt-out instants, STOP/START replies, the response window, holdout events) hold."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from simulator_campaigns import MESSY, OPT_HEAVY, flat_events, is_opt_out

from sms_simulator.build import build_campaign
from sms_simulator.metrics_query import MetricsQuery
from sms_simulator.metrics_truth import WaveGroups, metrics_truth
from sms_simulator.records import Event, Fact
from sms_simulator.state import PlatformState
from sms_simulator.vocabulary import INTERACTED, OPT_IN_KEYWORDS, SENT

H = timedelta(hours=1)
WINDOW = 72 * H


def published(state: PlatformState, until: datetime | None) -> list[dict[str, Any]]:
    """Every event of a valid original envelope published before ``until``, read from the envelope itself."""
    campaign = state.campaign
    assert campaign is not None
    limit = until.timestamp() * 1e6 if until is not None else float("inf")
    return [e for pub, r in zip(campaign.published_us, campaign.records, strict=True)
            if r.status == "original" and pub < limit for e in flat_events(campaign.render(r))]


def recount(events: list[dict[str, Any]], mailing: str) -> dict[str, Any]:
    """The glossary, read plainly, over flat events (price: 1 credit per GSM-7 part, 2 per UCS-2 part)."""
    def kind(e: dict[str, Any]) -> str:
        if is_opt_out(e):
            return "opt_out"
        if e.get("interactionType") == "reply" and e.get("keyword") in OPT_IN_KEYWORDS:
            return "opt_in"
        return str(e.get("interactionType"))

    opts = sorted((e["at"], e["eventId"], kind(e) == "opt_out", e["phone"]) for e in events
                  if kind(e) in ("opt_out", "opt_in"))

    def opted_out(phone: str, at: datetime) -> bool:
        latest = [out for t, _, out, p in opts if p == phone and t <= at]
        return bool(latest) and latest[-1]

    sends = [e for e in events if e["code"] == SENT and e["mailingName"] == mailing]
    texted = {e["phone"] for e in sends}  # the mailing's recipients: only their events are its figures
    inter = [e for e in events if e["code"] == INTERACTED and e["mailingName"] == mailing and e["phone"] in texted]
    first_delivered: dict[str, datetime] = {}
    for e in sends:
        if e["deliveryStatus"] == "delivered":
            first_delivered[e["phone"]] = min(e["at"], first_delivered.get(e["phone"], e["at"]))
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in inter:
        by_kind[kind(e)].append(e)
    responders = {e["phone"] for e in inter if kind(e) in ("click", "reply", "action", "conversion")
                  and e["phone"] in first_delivered
                  and first_delivered[e["phone"]] <= e["at"] < first_delivered[e["phone"]] + WINDOW
                  and not opted_out(e["phone"], e["at"])}
    return {
        "sent": len(sends), "recipients": len({e["phone"] for e in sends}),
        "delivered": sum(e["deliveryStatus"] == "delivered" for e in sends),
        "delivered_recipients": len(first_delivered),
        "parts": sum(int(e["messageParts"]) for e in sends),
        "credits": str(sum(int(e["messageParts"]) * (1 if e["messageBody"].isascii() else 2) for e in sends)),
        "clicks": len(by_kind["click"]), "unique_clickers": len({e["phone"] for e in by_kind["click"]}),
        "replies": len(by_kind["reply"]), "repliers": len({e["phone"] for e in by_kind["reply"]}),
        "opt_outs": len({e["phone"] for e in by_kind["opt_out"]}),
        "conversions": len(by_kind["conversion"]), "converters": len({e["phone"] for e in by_kind["conversion"]}),
        "conversion_value": str(sum((Decimal(e.get("value") or 0) for e in by_kind["conversion"]), Decimal(0))),
        "responders": len(responders),
    }


@pytest.mark.parametrize("config", [MESSY, OPT_HEAVY], ids=["messy", "opt_heavy"])
@pytest.mark.parametrize("hours", [3, None], ids=["until_3h", "everything"])
def test_figures_equal_a_recount_of_the_valid_originals_published_before_until(config: Any, hours: int | None) -> None:
    state = PlatformState(build_campaign(config))
    until = config.campaign_start + hours * H if hours is not None else None
    truth = metrics_truth(state.published_facts(until), MetricsQuery(until=until, price_ucs2=Decimal(2)))
    events = published(state, until)
    assert sorted(truth["mailings"]) == sorted({e["mailingName"] for e in events})
    for name, figures in truth["mailings"].items():
        expected = recount(events, name)
        assert {k: figures[k] for k in expected} == expected, name
    if hours is None:  # the third blast's emoji makes it UCS-2
        assert any(m["parts_ucs2"] for m in truth["mailings"].values())


def fact(kind: str, phone: str, minutes: float, mailing: str = "M", **kw: Any) -> Fact:
    at = int(minutes * 60e6)
    if kind in ("delivered", "failed"):
        return Fact(Event(f"s-{phone}-{minutes}", SENT, -1, -1, mailing, at, delivery_status=kind), phone, "C",
                    "hi", 1, kw.pop("variant", None))
    url = kw.pop("url", None)
    return Fact(Event(f"{kind}-{phone}-{minutes}", INTERACTED, -1, -1, mailing, at, interaction=kind, **kw), phone,
                url=url)


def test_opt_out_instants_stop_and_start_replies_and_the_window_decide_responses() -> None:
    facts = [
        fact("delivered", "+1", 0), fact("opt_out", "+1", 10, "OTHER", keyword="STOP"),
        fact("click", "+1", 10, link_token="t0", url="u"),  # at the opt-out's instant: opted out
        fact("reply", "+1", 20, text="Start", keyword="START"),  # a START reply opts back in
        fact("action", "+1", 30, text="Shop now"),  # a response again
        fact("delivered", "+2", 0), fact("reply", "+2", 5, text="Stop", keyword="STOP"),  # an opt-out, no reply
        fact("click", "+2", 6, link_token="t0", url="u"),  # a click, but after opting out: no response
        fact("delivered", "+3", 0), fact("reply", "+3", 72 * 60, text="ok", keyword="OK"),  # window is half-open
        fact("failed", "+4", 0), fact("click", "+4", 1, link_token="zz", url="https://x/zz"),  # never delivered
        fact("conversion", "+5", 50, value="12.50"),  # a holdout member: no message at all
        fact("reply", "+5", 60, text="ok", keyword="OK"),
    ]
    truth = metrics_truth(facts, MetricsQuery(), links={"t0": (0, "https://shop/sale")},
                          waves={"M": WaveGroups({"A": frozenset({"+1", "+2", "+3", "+4"})}, frozenset({"+5"}))})
    m = truth["mailings"]["M"]
    assert (m["sent"], m["recipients"], m["delivered_recipients"]) == (4, 4, 3)
    assert (m["clicks"], m["unique_clickers"], m["responders"]) == (3, 3, 1)
    assert (m["replies"], m["repliers"], m["opt_outs"]) == (1, 1, 1)  # +3's; +2's STOP is none; +5 was never texted
    # +5 (the holdout) converted by another path: not a figure of the mailing, only of its holdout group
    assert (m["converters"], m["conversion_value"], m["conversion_rate"]) == (0, "0", 0.0)
    assert m["actions"] == [{"action_name": "Shop now", "taps": 1, "unique_responders": 1, "share_of_responders": 1.0}]
    links = {(r["link_index"], r["target_url"]): (r["clicks"], r["unique_clickers"]) for r in m["links"]}
    assert links == {(0, "https://shop/sale"): (2, 2), (None, "https://x/zz"): (1, 1)}
    groups = {v["variant_group"]: v for v in m["variants"]}
    assert (groups["A"]["assigned"], groups["A"]["sent"], groups["A"]["delivered"]) == (4, 4, 3)
    # Lift: +1 (action at 30 min), +4 (click, delivered or not) and the holdout's conversion and reply count.
    assert (groups["A"]["lift_responders"], groups["holdout"]["lift_responders"]) == (2, 1)
    assert (groups["holdout"]["converters"], groups["holdout"]["lift_converters"], groups["holdout"]["responders"]) == (
        1, 1, 0)
    assert {x["outcome"]: (x["texted_hits"], x["texted"], x["holdout_hits"], x["holdout"]) for x in m["lift"]} == {
        "response": (2, 4, 1, 1), "conversion": (0, 4, 1, 1)}
    assert truth["campaigns"]["C"]["recipients"] == 4 and truth["campaigns"]["C"]["mailings"] == 1


def test_a_campaign_counts_a_phone_once_over_its_blasts() -> None:
    facts = [fact("delivered", "+1", 0, "M1"), fact("delivered", "+1", 100, "M2"), fact("delivered", "+2", 100, "M2"),
             fact("click", "+1", 5, "M1", link_token="a", url="u"), fact("click", "+1", 105, "M2", link_token="b",
                                                                            url="u")]
    truth = metrics_truth(facts, MetricsQuery(campaign="C"))
    c = truth["campaigns"]["C"]
    assert (c["mailings"], c["sent"], c["recipients"], c["clicks"], c["unique_clickers"], c["responders"]) == (
        2, 3, 2, 2, 1, 1)
    assert sorted(truth["mailings"]) == ["M1", "M2"]


@pytest.mark.parametrize(("params", "message"), [
    ({"until": "2026-11-20T09:00:00"}, "until"), ({"price_ucs2": "-1"}, "negative"), ({"price_gsm7": "x"}, "number"),
    ({"response_window_hours": "0"}, "> 0"), ({"price_gsm7": "NaN"}, "finite"),
])
def test_bad_query_parameters_are_named(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MetricsQuery.parse(params)
