"""The platform's opt-status export: every subscriber, whether and when they opted in and out.

Seeded like the campaign: most contacts opted in at some time in the year before the campaign started
(``OPT_IN_SHARE``), the rest never did; an opt-out (STOP-family reply or keyword) or opt-in (START, UNSTOP)
among the published events moves the subscriber's dates, latest wins. The export reflects everything the
platform has published, pushes included. Paged by keyset cursor (the last contact id), so a subscriber added
between two pages never shifts the client.
"""

from __future__ import annotations

import bisect
import random
import threading
from typing import Any

from .clock import iso, to_us
from .state import PlatformState
from .vocabulary import opt_event_kind

OPT_IN_SHARE = 0.9
MAX_DAYS_BEFORE = 365


def initial_opt_in_us(seed: int, contact_id: str, campaign_start_us: int) -> int | None:
    # A string seed is hashed with SHA-512: the draw is the same in every process.
    rng = random.Random(f"{seed}:opt-in:{contact_id}")
    if rng.random() >= OPT_IN_SHARE:
        return None
    seconds = int(rng.uniform(1, MAX_DAYS_BEFORE) * 86400)
    return campaign_start_us - seconds * 1_000_000


class OptStatusExport:
    """The export over a platform state, recomputed when the state has grown since the last request."""

    def __init__(self, state: PlatformState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._rows: list[dict[str, Any]] = []

    def rows(self) -> list[dict[str, Any]]:
        key = (len(self.state), len(self.state.contacts()))
        with self._lock:
            if key != self._key:
                self._rows, self._key = self._compute(), key
            return self._rows

    def page(self, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        rows = self.rows()
        start = 0 if not cursor else bisect.bisect_right(rows, cursor, key=lambda r: str(r["contact_id"]))
        chosen = rows[start:start + limit]
        more = start + limit < len(rows)
        return chosen, (chosen[-1]["contact_id"] if more and chosen else None)

    def _compute(self) -> list[dict[str, Any]]:
        campaign = self.state.campaign
        seed = campaign.config.seed if campaign is not None else 0
        start_us = to_us(campaign.config.campaign_start) if campaign is not None else 0
        opt_in: dict[str, int] = {}
        opt_out: dict[str, int] = {}
        for fact in self.state.published_facts():
            e = fact.event
            kind = opt_event_kind(e.code, e.interaction, e.keyword)
            latest = opt_in if kind == "opt_in" else opt_out if kind == "opt_out" else None
            if latest is not None and e.at_us > latest.get(fact.phone, -1):
                latest[fact.phone] = e.at_us
        rows: list[dict[str, Any]] = []
        for contact in sorted(self.state.contacts(), key=lambda c: c.contact_id):
            if not contact.e164:
                continue
            initial = initial_opt_in_us(seed, contact.contact_id, start_us) if campaign is not None else None
            ins = [t for t in (initial, opt_in.get(contact.e164)) if t is not None]
            in_us, out_us = (max(ins) if ins else None), opt_out.get(contact.e164)
            if out_us is not None and (in_us is None or out_us >= in_us):
                status = "opted_out"
            else:
                status = "opted_in" if in_us is not None else "never_opted_in"
            rows.append({"phone": contact.e164, "contact_id": contact.contact_id, "status": status,
                         "opted_in_at": iso(in_us) if in_us is not None else None,
                         "opted_out_at": iso(out_us) if out_us is not None else None})
        return rows
