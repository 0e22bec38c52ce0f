"""The ground truth of the Braze rendering: what a correct pipeline must find in what Currents wrote.

Computed by the simulator from its own model and rendering (``braze_render``), never from the pipeline:

* per window, how many records were written into its partition hours and what they are (originals, the
  model's re-deliveries and the file written twice, malformed records, the extra bot clicks);
* the rows ``sms_sent`` / ``sms_interactions`` must hold (``Written.expected``);
* segments and campaign metrics by the simulator's own rules (``truth.segments``, ``metrics_truth``) applied to
  the model's events as Braze tells them: times in whole seconds, a reply counted for the last message
  sent to the phone (Braze's attribution), an action as the text reply it is on SMS, no conversions (not
  an SMS event), no message body or parts (Currents carries neither), bot clicks not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from .braze_render import RECORD_ROLES, BrazeWorld, Written, seconds
from .clock import US_PER_S, to_us
from .metrics_query import MetricsQuery
from .metrics_truth import metrics_truth
from .records import Campaign, Event, Fact, RecipientHistory
from .state import PlatformState
from .truth import segments
from .vocabulary import SENT, reply_keyword


def window_counts(written: Iterable[Written], start: datetime, end: datetime) -> dict[str, int]:
    """Records written into the partition hours of ``[start, end)``, by what they stand for."""
    lo, hi = to_us(start), to_us(end)
    counts = dict.fromkeys(RECORD_ROLES, 0)
    for w in written:
        if lo <= w.hour_us < hi and w.role in counts:
            counts[w.role] += 1
    return {
        "records": sum(counts.values()),
        "imported": counts["original"] + counts["bot"],
        "duplicates": counts["duplicate"] + counts["redelivered"],
        "rejected": counts["malformed"],
        "bot_clicks": counts["bot"],
        "redelivered": counts["redelivered"],
    }


def expected_rows(written: Iterable[Written], until: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``sms_sent`` and ``sms_interactions`` once every hour before ``until`` is loaded."""
    hi = to_us(until) if until is not None else None
    out: dict[str, list[dict[str, Any]]] = {"sms_sent": [], "sms_interactions": []}
    for w in written:
        if w.expected is not None and (hi is None or w.hour_us < hi):
            out[w.expected["table"]].append(w.expected)
    return out


def _floor(us: int) -> int:
    return seconds(us) * US_PER_S


def _as_braze(e: Event, phone: str, world: BrazeWorld, index: dict[str, int]) -> Event | None:
    """The event as Braze tells it (None: Currents has no SMS event for it)."""
    if e.code == SENT or e.interaction == "click":
        return replace(e, at_us=_floor(e.at_us))
    if e.interaction == "conversion":
        return None
    mailing = world.inbound_mailing(phone, seconds(e.at_us), e.mailing)
    if e.interaction == "action":
        return replace(e, at_us=_floor(e.at_us), mailing=mailing, mailing_index=index.get(mailing, -1),
                       interaction="reply", keyword=reply_keyword(e.text or ""))
    return replace(e, at_us=_floor(e.at_us), mailing=mailing, mailing_index=index.get(mailing, -1))


def braze_campaign(campaign: Campaign, world: BrazeWorld) -> Campaign:
    """The campaign with every recipient's history as Braze tells it (for the segment rules)."""
    index = {m.name: m.index for m in campaign.mailings}
    histories = []
    for recipient, history in zip(campaign.recipients, campaign.histories, strict=True):
        events = [b for e in history.events if (b := _as_braze(e, recipient.e164, world, index)) is not None]
        periods = [(_floor(s), None if t is None else _floor(t)) for s, t in history.opt_periods]
        histories.append(RecipientHistory(events, periods, list(history.suppressed)))
    return replace(campaign, histories=histories)


def segments_truth(state: PlatformState, world: BrazeWorld) -> dict[str, tuple[list[str], list[str]]]:
    """Mailing name → (responders, non-responders) of the campaign, on Braze."""
    campaign = state.campaign
    if campaign is None:
        return {}
    told = braze_campaign(campaign, world)
    return {m.name: segments(told, m.index) for m in campaign.mailings}


def braze_facts(state: PlatformState, world: BrazeWorld, until: datetime | None = None) -> list[Fact]:
    """The published facts as Braze tells them (no body, one part, a reply's mailing by Braze's rule)."""
    campaign = state.campaign
    index = {m.name: m.index for m in campaign.mailings} if campaign is not None else {}
    out: list[Fact] = []
    for f in state.published_facts(until):
        e = _as_braze(f.event, f.phone, world, index)
        if e is None:
            continue
        if e.code == SENT:
            out.append(Fact(e, f.phone, world.campaign_of.get(e.mailing, f.campaign_code), None, 1, f.variant))
        else:
            out.append(Fact(e, f.phone, url=f.url if e.interaction == "click" else None))
    return out


def metrics(state: PlatformState, world: BrazeWorld, query: MetricsQuery) -> dict[str, Any]:
    """The glossary's figures (``metrics_truth``) over the Braze-told facts published before ``query.until``."""
    return metrics_truth(braze_facts(state, world, query.until), query)
