"""The ground truth of the Twilio transport: what a correct pipeline must find in what was pushed.

Computed from the simulator's facts and its own rendering plan (``twilio_render``), never from the
receiver's files or the adapter, by the rules the adapter documents:

* a window holds the events whose own time falls in it; a message is reported by the window of its
  terminal status (delivered, undelivered, failed), timed at its send (earlier than the window: late);
* each re-delivery of a terminal status, reply or click is one more record, counted as a duplicate;
* the unusable extras are quarantined, once each; badly signed batches leave nothing;
* tapped actions and conversions have no Twilio event: the segments and metrics truths are the model's,
  over what was rendered (the same rules as ``truth`` and ``metrics_truth``, on that subset).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from .clock import from_us, to_us
from .metrics_query import MetricsQuery
from .metrics_truth import metrics_truth
from .records import Campaign, RecipientHistory
from .truth import segments
from .twilio_render import RENDERED_KINDS, TwilioRendering
from .vocabulary import INTERACTED, opt_event_kind


def window_counts(rendering: TwilioRendering, start: datetime, end: datetime) -> dict[str, int]:
    """load_log's figures for the window ``[start, end)``."""
    s, e = to_us(start), to_us(end)
    out = dict.fromkeys(("downloaded", "imported", "imported_sent", "imported_interactions", "duplicates",
                         "rejected", "late"), 0)
    for m in rendering.messages:
        if not s <= m.terminal_us < e:
            continue
        n = rendering.deliveries[m.terminal_id]
        out["downloaded"] += n
        if m.fact is None:
            out["rejected"] += n
            continue
        out["imported_sent"] += 1
        out["duplicates"] += n - 1
        out["late"] += m.queued_us < s
    for i in rendering.interactions:
        if not s <= i.at_us < e:
            continue
        n = rendering.deliveries[i.ce_id]
        out["downloaded"] += n
        if i.fact is None:
            out["rejected"] += n
            continue
        out["imported_interactions"] += 1
        out["duplicates"] += n - 1
    out["imported"] = out["imported_sent"] + out["imported_interactions"]
    return out


def sent_rows(rendering: TwilioRendering) -> list[tuple[Any, ...]]:
    """``sms_sent`` as it must be: (phone, mailing, campaign, sent_at, status, status code, parts, body)."""
    rows: list[tuple[Any, ...]] = []
    for m in rendering.messages:
        if m.fact is not None:
            f = m.fact
            rows.append((f.phone, f.event.mailing, f.campaign_code, from_us(f.event.at_us),
                         f.event.delivery_status, f.event.status_code, f.parts, f.body))
    return sorted(rows, key=repr)


def interaction_rows(rendering: TwilioRendering) -> list[tuple[Any, ...]]:
    """``sms_interactions``: (phone, mailing, type, interacted_at, url, reply text, keyword)."""
    rows: list[tuple[Any, ...]] = []
    for i in rendering.interactions:
        if i.fact is None:
            continue
        e = i.fact.event
        kind = opt_event_kind(e.code, e.interaction, e.keyword) or e.interaction
        keyword = {"opt_out": "STOP", "opt_in": "START"}.get(kind or "")
        if kind == "click":
            rows.append((i.fact.phone, e.mailing, kind, from_us(e.at_us), i.fact.url, None, None))
        else:
            rows.append((i.fact.phone, e.mailing, kind, from_us(e.at_us), None, e.text, keyword))
    return sorted(rows, key=repr)


def rendered_campaign(campaign: Campaign) -> Campaign:
    """The campaign with only what Twilio can carry: sends, clicks, replies, opt-outs and opt-ins."""
    def keep(history: RecipientHistory) -> RecipientHistory:
        events = [e for e in history.events if e.code != INTERACTED
                  or (opt_event_kind(e.code, e.interaction, e.keyword) or e.interaction) in RENDERED_KINDS]
        return RecipientHistory(events, history.opt_periods, history.suppressed)

    return replace(campaign, histories=[keep(h) for h in campaign.histories])


def segment_truth(campaign: Campaign) -> dict[str, tuple[list[str], list[str]]]:
    """Per mailing: (responders, non-responders) of what Twilio carried, by the simulator's segment rules."""
    rendered = rendered_campaign(campaign)
    return {m.name: segments(rendered, m.index) for m in campaign.mailings}


def metrics(rendering: TwilioRendering, query: MetricsQuery | None = None) -> dict[str, Any]:
    """The campaign metrics of what was rendered (``metrics_truth`` over the rendered facts).

    With ``until``: what windows ending at ``until`` can hold. A message is one send only once its terminal
    status is in (a carrier receipt after ``until`` keeps it out, and with it its recipient's responses from the
    responder counts); an interaction counts when it happened before ``until``."""
    q = query or MetricsQuery()
    if q.until is None:
        return metrics_truth(rendering.rendered_facts, q)
    cutoff = to_us(q.until)
    visible = {id(m.fact) for m in rendering.messages if m.fact is not None and m.terminal_us < cutoff}
    visible |= {id(i.fact) for i in rendering.interactions if i.fact is not None and i.at_us < cutoff}
    return metrics_truth([f for f in rendering.rendered_facts if id(f) in visible], q)
