"""The simulator's own ground truth: what a correct pipeline must find in what the platform published.

``summarize`` aggregates any published records (generated or pushed) over a window; the campaign
functions add the behavioural truth only the generator knows: per-mailing counts and the
responder / non-responder segments by the rules in ``TRUTH_RULES``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .clock import HOUR_US, iso, to_us
from .records import Campaign, Entry, Mailing, RecipientHistory, record_count
from .vocabulary import (
    DELIVERY_STATUSES,
    HARD_FAILURE_CODES,
    INTERACTED,
    INTERACTION_TYPES,
    MALFORMED_KINDS,
    RESPONSE_TYPES,
    SENT,
)

TRUTH_RULES = {
    "responder": (
        "delivered for the mailing and has a click, action, conversion or non-STOP reply for that "
        "mailing within 72h after its send and before the recipient's first opt-out after that send"
    ),
    "non_responder": (
        "delivered for the mailing, not a responder, not opted out at the end of the campaign, never hard-failed"
    ),
    "records": "an envelope counts once, or k times when it carries k>1 events; malformed counts once",
    "duplicates": "re-deliveries of an already published eventId, wherever the original was published",
    "late_events": "valid original events whose event timestamp is before the window start",
}
RESPONSE_WINDOW_US = 72 * HOUR_US


def window_truth(campaign: Campaign, start: datetime, end: datetime) -> dict[str, Any]:
    """Ground truth for the records published in ``[start, end)``."""
    lo = bisect.bisect_left(campaign.published_us, to_us(start))
    hi = bisect.bisect_left(campaign.published_us, to_us(end))
    return summarize(campaign.records[lo:hi], start, end, campaign.mailing_names())


def campaign_truth(campaign: Campaign) -> dict[str, Any]:
    """Campaign-wide truth: the config, the rules, per-mailing counts and segments, record totals."""
    return {
        "config": campaign.config.to_json(),
        "rules": TRUTH_RULES,
        "recipients": len(campaign.recipients),
        "mailings": [_mailing_truth(campaign, m) for m in campaign.mailings],
        "opted_out_at_end": sum(1 for h in campaign.histories if _opted_out_at_end(h)),
        "records": summarize(campaign.records, None, None, campaign.mailing_names()),
    }


def segments(campaign: Campaign, mailing_index: int) -> tuple[list[str], list[str]]:
    """Sorted E.164 numbers of (responders, non-responders) for one mailing."""
    responders: list[str] = []
    non_responders: list[str] = []
    for recipient, history in zip(campaign.recipients, campaign.histories, strict=True):
        verdict = _segment(history, mailing_index)
        if verdict == "responder":
            responders.append(recipient.e164)
        elif verdict == "non_responder":
            non_responders.append(recipient.e164)
    return sorted(responders), sorted(non_responders)


def _mailing_truth(campaign: Campaign, mailing: Mailing) -> dict[str, Any]:
    k = mailing.index
    counts = {
        "sends": 0,
        "delivered": 0,
        "failed_hard": 0,
        "failed_soft": 0,
        "suppressed_opted_out": 0,
        "opt_outs": 0,
        "opt_outs_via_reply": 0,
        "opt_ins": 0,
        "clicks_after_opt_out": 0,
    }
    interactions = dict.fromkeys(INTERACTION_TYPES, 0)
    for history in campaign.histories:
        counts["suppressed_opted_out"] += history.suppressed.count(k)
        for e in history.events:
            if e.mailing_index != k:
                continue
            if e.code == SENT:
                counts["sends"] += 1
                if e.delivery_status == "delivered":
                    counts["delivered"] += 1
                elif e.status_code in HARD_FAILURE_CODES:
                    counts["failed_hard"] += 1
                else:
                    counts["failed_soft"] += 1
                continue
            interactions[e.interaction or ""] += 1
            if e.is_opt_out:
                counts["opt_outs"] += 1
                counts["opt_outs_via_reply"] += e.interaction == "reply"
            elif e.interaction == "opt_in":
                counts["opt_ins"] += 1
            counts["clicks_after_opt_out"] += e.after_opt_out
    responders, non_responders = segments(campaign, k)
    return {
        "name": mailing.name,
        "process_box": mailing.process_box,
        "scheduled_at": iso(mailing.scheduled_us),
        **counts,
        "interactions": interactions,
        "responders": len(responders),
        "non_responders": len(non_responders),
        "responder_phones": responders,
        "non_responder_phones": non_responders,
    }


def _opted_out_at_end(history: RecipientHistory) -> bool:
    return bool(history.opt_periods) and history.opt_periods[-1][1] is None


def _segment(history: RecipientHistory, k: int) -> str | None:
    send = next((e for e in history.events if e.code == SENT and e.mailing_index == k), None)
    if send is None or send.delivery_status != "delivered":
        return None
    first_opt_out = min((s for s, _ in history.opt_periods if s >= send.at_us), default=None)
    deadline = send.at_us + RESPONSE_WINDOW_US
    if first_opt_out is not None:
        deadline = min(deadline, first_opt_out)
    for e in history.events:
        if (
            e.code == INTERACTED
            and e.mailing_index == k
            and e.interaction in RESPONSE_TYPES
            and not e.is_opt_out
            and send.at_us <= e.at_us < deadline
        ):
            return "responder"
    hard_failed = any(e.code == SENT and e.status_code in HARD_FAILURE_CODES for e in history.events)
    if _opted_out_at_end(history) or hard_failed:
        return None
    return "non_responder"


def summarize(
    entries: Iterable[Entry],
    start: datetime | None,
    end: datetime | None,
    mailing_names: Sequence[str] = (),
) -> dict[str, Any]:
    """Aggregate ground truth over published records (already restricted to a window)."""
    start_us = to_us(start) if start is not None else None
    by_kind = dict.fromkeys(MALFORMED_KINDS, 0)
    by_mailing: dict[str, dict[str, dict[str, int]]] = {}

    def mailing_bucket(name: str) -> dict[str, dict[str, int]]:
        if name not in by_mailing:
            by_mailing[name] = {
                SENT: {"total": 0, **dict.fromkeys(DELIVERY_STATUSES, 0)},
                INTERACTED: {"total": 0, **dict.fromkeys(INTERACTION_TYPES, 0)},
            }
        return by_mailing[name]

    for name in mailing_names:
        mailing_bucket(name)
    envelopes = records = valid = duplicates = malformed = late = long_lag = 0
    for entry in entries:
        envelopes += 1
        n = record_count(entry)
        records += n
        if entry.status == "malformed":
            malformed += 1
            kind = entry.malformed_kind or "unknown"
            by_kind[kind] = by_kind.get(kind, 0) + 1
            continue
        if entry.status == "duplicate":
            duplicates += n
            continue
        valid += len(entry.events)
        long_lag += len(entry.events) if entry.long_lag else 0
        for e in entry.events:
            if start_us is not None and e.at_us < start_us:
                late += 1
            bucket = mailing_bucket(e.mailing)[e.code]
            bucket["total"] += 1
            detail = e.delivery_status if e.code == SENT else e.interaction
            if detail is not None:
                bucket[detail] = bucket.get(detail, 0) + 1
    return {
        "window": {
            "start": start.isoformat() if start is not None else None,
            "end": end.isoformat() if end is not None else None,
        },
        "envelopes": envelopes,
        "records": records,
        "valid_events": valid,
        "duplicates": duplicates,
        "malformed": malformed,
        "malformed_by_kind": by_kind,
        "late_events": late,
        "long_lag_events": long_lag,
        "by_mailing": by_mailing,
    }
