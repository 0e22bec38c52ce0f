"""The sample gate: the sample's reach and delivery rate against the threshold, the winning variant, the full phase.

Two figures must reach ``sample_threshold``: the share of the sample the platform could reach (its contact import
minus the numbers it dropped as unknown) and the sample's delivery rate. Below either, the wave stops
(:class:`SampleBelowThreshold`, status ``sample_failed``): nobody beyond the sample is pushed or sent. Otherwise
the winner's template is rendered for every full-phase recipient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from sms_response.events import Normaliser
from sms_response.experiments import VariantStats, pick_winner
from sms_response.mapping import Mapping as EventMapping
from sms_response.messages import new_token
from sms_response.phones import PhoneNormaliser
from sms_response.platform import SmsPlatformClient
from sms_response.sqlfiles import load_sql
from sms_response.waves.audience import AudienceMember
from sms_response.waves.plan import render_message, short_link_row
from sms_response.waves.profiles import require_profiles_pushed
from sms_response.waves.request import WaveError, WaveSpec
from sms_response.waves.store import Conn, require_autocommit, set_status, wave_spec, wave_status
from sms_response.window import Window

log = logging.getLogger(__name__)


class SampleBelowThreshold(WaveError):
    """The sample's reach or delivery rate is below the threshold: the wave stops after the sample."""


@dataclass
class SampleResult:
    mailing_name: str
    ready: bool
    attempted: int = 0
    delivered: int = 0
    pending: int = 0
    delivery_rate: float | None = None
    passed: bool | None = None
    winner: str | None = None
    winner_reason: str | None = None
    variant_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    sample_sent_at: datetime | None = None
    profile_import: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["sample_sent_at"] = self.sample_sent_at.isoformat() if self.sample_sent_at else None
        return d


def sample_sent_at(conn: Conn, mailing: str) -> datetime | None:
    row = conn.execute(load_sql("wave_sample_sent_at"), {"mailing": mailing}).fetchone()
    return row[0] if row else None


def sample_reach(recipients: int, updated: int | None, dropped_unknown: int | None) -> float:
    """Share of the sample the platform could reach: pushed minus dropped as unknown (at most what it updated)."""
    if recipients <= 0:
        return 1.0
    reachable = recipients - (dropped_unknown or 0)
    if updated is not None:
        reachable = min(reachable, updated)
    return max(reachable, 0) / recipients


def check_sample_import(conn: Conn, mailing: str, threshold: float) -> dict[str, Any]:
    """The sample import's figures; records ``sample_failed`` and raises :class:`SampleBelowThreshold` when it
    dropped so many numbers that less than ``threshold`` of the sample could be reached."""
    imp = require_profiles_pushed(conn, mailing, "sample")
    reach = sample_reach(imp.recipients, imp.updated, imp.dropped_unknown)
    figures = {"import_id": imp.import_id, "recipients": imp.recipients, "updated": imp.updated,
               "dropped_unknown": imp.dropped_unknown, "reach": round(reach, 4)}
    if reach < threshold:
        reason = (f"the sample's contact import dropped {imp.dropped_unknown} of {imp.recipients} number(s) as "
                  f"unknown to the platform: only {reach:.1%} of the sample could be reached, below the threshold "
                  f"{threshold:.1%}; the wave stopped after the sample, nobody else was pushed or sent")
        with conn.transaction():
            set_status(conn, mailing, "sample_failed", reason, sample_stats=Jsonb({"profile_import": figures}))
        raise SampleBelowThreshold(reason)
    return figures


def _responders_by_phone(client: SmsPlatformClient, mapping: EventMapping, mailing: str, start: datetime,
                         end: datetime) -> dict[str, set[str]]:
    """Read-only look at the platform's interactions of the wave so far: phone -> interaction types."""
    out: dict[str, set[str]] = {}
    if end <= start:
        return out
    window = Window.filtered(start, end, codes=["interactedSMS"], mailings=[mailing])
    normaliser = Normaliser(mapping, window, "sample-peek", PhoneNormaliser())
    for page in client.pages(window, codes=["interactedSMS"], mailings=[mailing], page_size=1000):
        for n, envelope in enumerate(page.envelopes):
            for row in normaliser.normalise(envelope, f"{page.number}:{n}"):
                itype = getattr(row, "interaction_type", None)
                if itype:
                    out.setdefault(row.phone_e164, set()).add(itype)  # type: ignore[union-attr]
    return out


def evaluate_sample(
    conn: Conn,
    client: SmsPlatformClient,
    mapping: EventMapping,
    mailing: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    short_link_base: str,
    token: Callable[[], str] = new_token,
) -> SampleResult:
    """Check the sample's reach and delivery rate; pick the winning variant; render the full phase with it.

    Not ready (``ready=False``) while the platform still reports a sample message as pending.
    Raises :class:`SampleBelowThreshold` (and records ``sample_failed``) when the sample's import dropped too many
    numbers or too few were delivered.
    """
    require_autocommit(conn)
    spec = wave_spec(conn, mailing)
    status = wave_status(conn, mailing)
    if status in ("sample_passed", "sending", "completed"):
        row = conn.execute(load_sql("wave_gate_outcome"), {"mailing": mailing}).fetchone()
        assert row is not None
        return SampleResult(mailing, True, passed=True, winner=row[0],
                            variant_stats=(row[1] or {}).get("variants", {}),
                            profile_import=(row[1] or {}).get("profile_import", {}))
    if status == "sample_failed":
        stored = conn.execute(load_sql("wave_reason"), {"mailing": mailing}).fetchone()
        raise SampleBelowThreshold(str(stored[0] if stored else "sample failed"))
    imported = check_sample_import(conn, mailing, spec.sample_threshold)
    rows = conn.execute(load_sql("wave_sample_recipients"), {"mailing": mailing}).fetchall()
    if any(r[2] in ("sending", "pending") for r in rows):
        return SampleResult(mailing, False, pending=sum(r[2] in ("sending", "pending") for r in rows),
                            profile_import=imported)
    ids = [r[3] for r in rows if r[2] == "sent" and r[3]]
    statuses = client.message_statuses(ids) if ids else {}
    delivered_phones = {r[0] for r in rows if statuses.get(r[3] or "", {}).get("status") == "delivered"}
    final = {"delivered", "failed", "undelivered"}
    pending = sum(1 for i in ids if statuses.get(i, {}).get("status") not in final)
    first_sent = min((r[4] for r in rows if r[4] is not None), default=None)
    result = SampleResult(mailing, pending == 0, attempted=len(rows), delivered=len(delivered_phones),
                          pending=pending, sample_sent_at=first_sent, profile_import=imported)
    if pending:
        return result
    rate = len(delivered_phones) / len(rows) if rows else 1.0
    result.delivery_rate = round(rate, 4)
    result.passed = rate >= spec.sample_threshold
    variants = list(spec.variants)
    responses: dict[str, set[str]] = {}
    if len(variants) > 1 and first_sent is not None:
        responses = _responders_by_phone(client, mapping, mailing, first_sent - timedelta(minutes=1), now())
    success_type = "click" if spec.winner_metric == "click_rate" else "conversion"
    stats = []
    for v in variants:
        members = [r[0] for r in rows if r[1] == v and r[0] in delivered_phones]
        successes = sum(1 for p in members if success_type in responses.get(p, set()))
        stats.append(VariantStats(v, len(members), successes))
        result.variant_stats[v] = {"recipients": len(members), "successes": successes}
    decision = pick_winner(stats, metric=spec.winner_metric, alpha=spec.alpha,
                           min_per_variant=spec.min_per_variant, default=variants[0])
    result.winner, result.winner_reason = decision.winner, decision.reason
    sample_stats = Jsonb({"delivery_rate": result.delivery_rate, "attempted": len(rows),
                          "delivered": len(delivered_phones), "variants": result.variant_stats,
                          "winner_reason": decision.reason, "p_value": decision.p_value,
                          "profile_import": imported})
    if not result.passed:
        reason = (f"sample delivery rate {rate:.1%} ({len(delivered_phones)}/{len(rows)}) is below the threshold "
                  f"{spec.sample_threshold:.1%}; the wave stopped after the sample, nobody else was sent")
        with conn.transaction():
            set_status(conn, mailing, "sample_failed", reason, sample_stats=sample_stats)
        raise SampleBelowThreshold(reason)
    assert decision.winner is not None
    _render_full_phase(conn, mailing, spec, decision.winner, short_link_base, token, sample_stats)
    log.info("wave %s: sample delivered %.1f%%; winner %s (%s)", mailing, rate * 100, decision.winner,
             decision.reason)
    return result


def _render_full_phase(conn: Conn, mailing: str, spec: WaveSpec, winner: str, short_link_base: str,
                       token: Callable[[], str], sample_stats: Jsonb) -> None:
    template = spec.variants[winner]
    rows = conn.execute(load_sql("wave_full_phase_unrendered"), {"mailing": mailing}).fetchall()
    with conn.transaction():
        updates: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for r in rows:
            msg = render_message(template, AudienceMember(*r), short_link_base, token)
            updates.append({"variant": winner, "body": msg.body, "parts": msg.parts, "mailing": mailing, "phone": r[0]})
            links.extend(short_link_row(mailing, r[0], link) for link in msg.links)
        with conn.cursor() as cur:
            if updates:
                cur.executemany(load_sql("wave_set_message"), updates)
            if links:
                cur.executemany(load_sql("wave_insert_short_link"), links)
        set_status(conn, mailing, "sample_passed", winner=winner, sample_stats=sample_stats)
