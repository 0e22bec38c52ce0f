"""The campaign metrics' ground truth: every figure of the glossary (docs/metrics.md) from what was published.

Computed from the simulator's own facts (``records.Fact``: the campaign model's events, the push side's
messages and reactions) of the valid originals published before ``until``: a malformed record is never
importable and a duplicate re-delivers an event already counted (``truth.TRUTH_RULES``).  The rules are
the glossary's, written out here a second time on purpose, and the encoding reads the simulator's own
GSM-7 alphabet, so the pipeline's metrics are checked against an independent reading.

Figures carry the names of the glossary (and so of the ``report_*`` columns).  Credits and conversion
values are exact decimals rendered as strings; rates are floats, None when the denominator is 0.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from .clock import iso
from .metrics_query import MetricsQuery
from .records import Event, Fact
from .vocabulary import INTERACTED, RESPONSE_TYPES, SENT, is_gsm7, opt_event_kind

HOLDOUT = "holdout"
CONTROL = "A"  # the group of a wave message sent without a variant

LinkKey = tuple[int | None, str]  # (link index, target url); index None: the click's url, no known short link


@dataclass(frozen=True)
class WaveGroups:
    """Whom a wave's mailing was for: its texted groups (variant -> phones) and its holdout."""

    texted: Mapping[str, frozenset[str]]
    holdout: frozenset[str] = frozenset()


class OptTimeline:
    """Every published opt-out and opt-in, any mailing: was a phone opted out at an instant?"""

    def __init__(self, facts: Iterable[Fact]) -> None:
        events: dict[str, list[tuple[int, str, bool]]] = defaultdict(list)
        for f in facts:
            e = f.event
            kind = opt_event_kind(e.code, e.interaction, e.keyword)
            if kind is not None:
                events[f.phone].append((e.at_us, e.event_id, kind == "opt_out"))
        self._times: dict[str, list[int]] = {}
        self._out: dict[str, list[bool]] = {}
        for phone, items in events.items():
            items.sort()
            self._times[phone] = [t for t, _, _ in items]
            self._out[phone] = [out for _, _, out in items]

    def opted_out_at(self, phone: str, at_us: int) -> bool:
        """Whether the phone's latest opt event at or before ``at_us`` is an opt-out."""
        times = self._times.get(phone)
        if not times:
            return False
        i = bisect.bisect_right(times, at_us)
        return i > 0 and self._out[phone][i - 1]


def kind_of(e: Event) -> str:
    """What the glossary calls the event: STOP- and START-family replies are opt-outs / opt-ins."""
    return opt_event_kind(e.code, e.interaction, e.keyword) or e.interaction or ""


@dataclass
class PhoneFigures:
    """One phone in one mailing: what the per-recipient figures are counted from."""

    messages: int = 0
    first_sent_us: int | None = None
    first_delivered_us: int | None = None
    clicks: int = 0
    replies: int = 0
    conversions: int = 0
    conversion_value: Decimal = Decimal(0)
    opted_out: bool = False
    responded: bool = False
    responded_actions: set[str] = field(default_factory=set)
    lift_responded: bool = False
    lift_converted: bool = False
    first_click_us: dict[LinkKey, int] = field(default_factory=dict)
    link_clicks: dict[LinkKey, int] = field(default_factory=lambda: defaultdict(int))
    action_taps: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def recipient(self) -> bool:
        """A recipient of the mailing: it was sent a message. Only recipients count in the mailing's figures."""
        return self.messages > 0


@dataclass
class MailingFigures:
    name: str
    campaign_code: str | None = None
    sends: list[Fact] = field(default_factory=list)
    interactions: list[Fact] = field(default_factory=list)
    phones: dict[str, PhoneFigures] = field(default_factory=lambda: defaultdict(PhoneFigures))

    @property
    def recipients(self) -> list[PhoneFigures]:
        return [p for p in self.phones.values() if p.recipient]

    @property
    def started_us(self) -> int | None:
        return min((f.event.at_us for f in self.sends), default=None)


def metrics_truth(
    facts: Sequence[Fact],
    query: MetricsQuery,
    *,
    links: Mapping[str, tuple[int, str]] | None = None,
    waves: Mapping[str, WaveGroups] | None = None,
) -> dict[str, Any]:
    """Figures of the chosen mailings and of their campaigns.

    ``facts``: the published facts (before ``query.until``); ``links``: short-link token -> (link index,
    target url); ``waves``: the groups of each wave mailing (its variants and holdout).
    """
    links, waves = links or {}, waves or {}
    window_us = query.response_window // timedelta(microseconds=1)
    opts = OptTimeline(facts)
    by_mailing: dict[str, MailingFigures] = {}
    for f in facts:
        m = by_mailing.setdefault(f.event.mailing, MailingFigures(f.event.mailing))
        if f.event.code == SENT:
            m.sends.append(f)
            if m.campaign_code is None:
                m.campaign_code = f.campaign_code
        elif f.event.code == INTERACTED:
            m.interactions.append(f)
    for m in by_mailing.values():
        _count(m, opts, links, window_us)

    if query.mailings is not None:
        chosen = list(query.mailings)
    else:
        chosen = sorted(n for n, m in by_mailing.items() if query.campaign in (None, m.campaign_code))
    mailings = {}
    for name in chosen:
        m = by_mailing.get(name) or MailingFigures(name)
        mailings[name] = _mailing_json(m, query, waves.get(name))
    codes = sorted({c for n in chosen if n in by_mailing and (c := by_mailing[n].campaign_code) is not None})
    campaigns = {code: _campaign_json(code, [m for m in by_mailing.values() if m.campaign_code == code], query)
                 for code in codes}
    return {"query": query.to_json(), "mailings": mailings, "campaigns": campaigns}


def _count(m: MailingFigures, opts: OptTimeline, links: Mapping[str, tuple[int, str]], window_us: int) -> None:
    for f in m.sends:
        p, at = m.phones[f.phone], f.event.at_us
        p.messages += 1
        p.first_sent_us = at if p.first_sent_us is None else min(p.first_sent_us, at)
        if f.event.delivery_status == "delivered":
            p.first_delivered_us = at if p.first_delivered_us is None else min(p.first_delivered_us, at)
    started = m.started_us
    for f in m.interactions:
        e, p, kind = f.event, m.phones[f.phone], kind_of(f.event)
        if kind == "click":
            p.clicks += 1
            key = links.get(e.link_token or "") or (None, f.url or "")
            p.link_clicks[key] += 1
            p.first_click_us[key] = min(p.first_click_us.get(key, e.at_us), e.at_us)
        elif kind == "reply":
            p.replies += 1
        elif kind == "action":
            p.action_taps[e.text or ""] += 1
        elif kind == "conversion":
            p.conversions += 1
            p.conversion_value += Decimal(e.value) if e.value is not None else Decimal(0)
        elif kind == "opt_out":
            p.opted_out = True
        if kind not in RESPONSE_TYPES or opts.opted_out_at(f.phone, e.at_us):
            continue
        first = p.first_delivered_us
        if first is not None and first <= e.at_us < first + window_us:
            p.responded = True
            if kind == "action":
                p.responded_actions.add(e.text or "")
        if started is not None and started <= e.at_us < started + window_us:
            p.lift_responded = True
            p.lift_converted = p.lift_converted or kind == "conversion"


def _rate(numerator: int | Decimal, denominator: int) -> float | None:
    return float(numerator) / denominator if denominator else None


def _cost(credits: Decimal, divisor: int) -> float | None:
    return float(credits / divisor) if divisor else None


def _message_figures(sends: Iterable[Fact], query: MetricsQuery) -> dict[str, Any]:
    sent = delivered = failed = undelivered = parts = parts_gsm7 = 0
    credits = credits_undelivered = Decimal(0)
    first = last = None
    for f in sends:
        e = f.event
        sent += 1
        delivered += e.delivery_status == "delivered"
        failed += e.delivery_status == "failed"
        undelivered += e.delivery_status == "undelivered"
        gsm7 = f.body is None or is_gsm7(f.body)
        parts += f.parts
        parts_gsm7 += f.parts if gsm7 else 0
        cost = f.parts * (query.price_gsm7 if gsm7 else query.price_ucs2)
        credits += cost
        credits_undelivered += cost if e.delivery_status != "delivered" else 0
        first = e.at_us if first is None else min(first, e.at_us)
        last = e.at_us if last is None else max(last, e.at_us)
    return {
        "first_sent_at": iso(first) if first is not None else None,
        "last_sent_at": iso(last) if last is not None else None,
        "sent": sent, "delivered": delivered, "failed": failed, "undelivered": undelivered,
        "parts": parts, "parts_gsm7": parts_gsm7, "parts_ucs2": parts - parts_gsm7,
        "credits": credits, "credits_undelivered": credits_undelivered,
    }


def _phone_figures(phones: Iterable[PhoneFigures]) -> dict[str, Any]:
    """Figures of recipients only: events of phones the mailing never texted are not its figures."""
    ps = [p for p in phones if p.recipient]
    return {
        "recipients": sum(p.messages > 0 for p in ps),
        "delivered_recipients": sum(p.first_delivered_us is not None for p in ps),
        "clicks": sum(p.clicks for p in ps),
        "unique_clickers": sum(p.clicks > 0 for p in ps),
        "responders": sum(p.responded for p in ps),
        "replies": sum(p.replies for p in ps),
        "repliers": sum(p.replies > 0 for p in ps),
        "opt_outs": sum(p.opted_out for p in ps),
        "conversions": sum(p.conversions for p in ps),
        "converters": sum(p.conversions > 0 for p in ps),
        "conversion_value": sum((p.conversion_value for p in ps), Decimal(0)),
    }


def _with_rates(figures: dict[str, Any]) -> dict[str, Any]:
    dr = figures["delivered_recipients"]
    figures.update(
        delivery_rate=_rate(figures["delivered"], figures["sent"]),
        click_rate=_rate(figures["unique_clickers"], dr),
        response_rate=_rate(figures["responders"], dr),
        reply_rate=_rate(figures["repliers"], dr),
        unsubscribe_rate=_rate(figures["opt_outs"], dr),
        conversion_rate=_rate(figures["converters"], dr),
        cost_per_response=_cost(figures["credits"], figures["responders"]),
        cost_per_conversion=_cost(figures["credits"], figures["converters"]),
    )
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in figures.items()}


def _mailing_json(m: MailingFigures, query: MetricsQuery, wave: WaveGroups | None) -> dict[str, Any]:
    out = _with_rates({"mailing_name": m.name, "campaign_code": m.campaign_code,
                       **_message_figures(m.sends, query), **_phone_figures(m.phones.values())})
    out["links"] = _links(m, out["delivered_recipients"])
    out["actions"] = _actions(m, out["responders"])
    if wave is not None and m.sends:  # a wave without a published message has no figures yet
        out["variants"], out["lift"] = _variants(m, wave)
    return out


def _links(m: MailingFigures, delivered_recipients: int) -> list[dict[str, Any]]:
    rows = []
    ps = m.recipients
    keys = {k for p in ps for k in p.link_clicks}
    for key in sorted(keys, key=lambda k: (k[0] is None, k[0] or 0, k[1])):
        minutes = [(p.first_click_us[key] - p.first_sent_us) / 60e6 for p in ps
                   if key in p.first_click_us and p.first_sent_us is not None]
        clickers = sum(key in p.first_click_us for p in ps)
        clicks = sum(p.link_clicks.get(key, 0) for p in ps)
        rows.append({
            "link_index": key[0], "target_url": key[1], "clicks": clicks, "unique_clickers": clickers,
            "click_rate": _rate(clickers, delivered_recipients),
            "median_minutes_to_click": statistics.median(minutes) if minutes else None,
        })
    return rows


def _actions(m: MailingFigures, responders: int) -> list[dict[str, Any]]:
    rows = []
    ps = m.recipients
    for name in sorted({a for p in ps for a in p.action_taps}):
        unique = sum(name in p.responded_actions for p in ps)
        taps = sum(p.action_taps.get(name, 0) for p in ps)
        rows.append({"action_name": name, "taps": taps, "unique_responders": unique,
                     "share_of_responders": _rate(unique, responders)})
    return rows


def _variants(m: MailingFigures, wave: WaveGroups) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    groups = [(name, phones, False) for name, phones in sorted(wave.texted.items())]
    if wave.holdout:
        groups.append((HOLDOUT, wave.holdout, True))
    rows: list[dict[str, Any]] = []
    for name, members, is_holdout in groups:
        ps = [m.phones[p] for p in sorted(members) if p in m.phones]
        sends = [f for f in m.sends if f.phone in members]
        delivered = sum(p.first_delivered_us is not None for p in ps)
        converters = sum(p.conversions > 0 for p in ps)
        rows.append({
            "variant_group": name, "is_holdout": is_holdout, "assigned": len(members), "sent": len(sends),
            "delivered": delivered,
            "clicks": sum(p.clicks for p in ps),
            "unique_clickers": sum(p.clicks > 0 for p in ps),
            "responders": sum(p.responded for p in ps),
            "lift_responders": sum(p.lift_responded for p in ps),
            "lift_converters": sum(p.lift_converted for p in ps),
            "converters": converters,
            "conversion_value": str(sum((p.conversion_value for p in ps), Decimal(0))),
            # The glossary's group rates: over the group's delivered recipients (None for the holdout).
            "click_rate": _rate(sum(p.clicks > 0 for p in ps), delivered),
            "response_rate": _rate(sum(p.responded for p in ps), delivered),
            "conversion_rate": _rate(converters, delivered),
        })
    lift = []
    texted = [r for r in rows if not r["is_holdout"]]
    holdout = [r for r in rows if r["is_holdout"]]
    if holdout:
        n_t, n_h = sum(r["assigned"] for r in texted), holdout[0]["assigned"]
        for outcome, column in (("response", "lift_responders"), ("conversion", "lift_converters")):
            hits_t, hits_h = sum(r[column] for r in texted), holdout[0][column]
            rate_t, rate_h = _rate(hits_t, n_t), _rate(hits_h, n_h)
            lift.append({
                "outcome": outcome, "texted": n_t, "texted_hits": hits_t, "holdout": n_h, "holdout_hits": hits_h,
                "texted_rate": rate_t, "holdout_rate": rate_h,
                "lift": rate_t - rate_h if rate_t is not None and rate_h is not None else None,
            })
    return rows, lift


def _campaign_json(code: str, mailings: Collection[MailingFigures], query: MetricsQuery) -> dict[str, Any]:
    """Message and event figures summed over the mailings; phone figures over distinct phones."""
    merged: dict[str, PhoneFigures] = defaultdict(PhoneFigures)
    for m in mailings:
        for phone, p in m.phones.items():
            if not p.recipient:
                continue  # an event of a phone this mailing never texted is not the campaign's either
            c = merged[phone]
            c.messages += p.messages
            if p.first_delivered_us is not None:
                c.first_delivered_us = p.first_delivered_us
            c.clicks += p.clicks
            c.replies += p.replies
            c.conversions += p.conversions
            c.conversion_value += p.conversion_value
            c.opted_out |= p.opted_out
            c.responded |= p.responded
    return _with_rates({"campaign_code": code, "mailings": len(mailings),
                        **_message_figures((f for m in mailings for f in m.sends), query),
                        **_phone_figures(merged.values())})

