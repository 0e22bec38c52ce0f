"""Building a campaign: its mailings, every recipient's history, and the published record log.

Pure and deterministic: the same ``SimulatorConfig`` yields the same records, rendered to the same
bytes.  No I/O, no wall clock.

Each recipient's history comes from its *behaviour* stream (``generator``); how it is published
comes from its *noise* stream: publication lag, duplicates, malformed records and multi-event
envelopes.  Keeping them apart means switching data-quality knobs (``duplicate_rate`` ...) never
changes the underlying campaign, so ``truth.campaign_truth`` segment counts stay comparable between
a clean run and a messy one.  Every noise draw is made for every event regardless of the rates, so
raising a rate only *adds* noise.
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from .clock import HOUR_US, US_PER_MS, from_us, to_us, whole_ms
from .config import SimulatorConfig
from .generator import NOISE_STREAM, Generator, seeded_rng, uuid_text
from .records import Campaign, Mailing, ModelRecord, Recipient, RecipientHistory
from .vocabulary import MALFORMED_KINDS, MESSAGE_TEMPLATES, PROCESS_BOX_THEMES, sanitise_name


def build_mailings(config: SimulatorConfig) -> tuple[Mailing, ...]:
    code = sanitise_name(config.campaign_code)
    start_us = to_us(config.campaign_start)
    interval_us = config.mailing_interval // timedelta(microseconds=1)
    seen: set[str] = set()
    mailings: list[Mailing] = []
    for k in range(config.mailings):
        theme = PROCESS_BOX_THEMES[k % len(PROCESS_BOX_THEMES)]
        box = sanitise_name(f"Wave{k + 1} {theme}")
        scheduled = start_us + k * interval_us
        stamp = from_us(scheduled).strftime("%Y%m%d%H%M%S")
        name = sanitise_name(f"{code}_{box}_{stamp}")
        # A zero interval would otherwise collide on the timestamp part.
        suffix = 2
        base = name
        while name in seen:
            name = f"{base}_{suffix}"
            suffix += 1
        seen.add(name)
        template = MESSAGE_TEMPLATES[k % len(MESSAGE_TEMPLATES)]
        mailings.append(Mailing(k, name, box, scheduled, template))
    return tuple(mailings)


def _publish_noise(campaign: Campaign, i: int, history: RecipientHistory, out: list[tuple[int, ModelRecord]]) -> None:
    """Turn one recipient's true events into published records (lag, dups, junk)."""
    cfg = campaign.config
    rng = seeded_rng(cfg.seed, NOISE_STREAM, i)
    lag_lo, lag_hi = cfg.min_lag.total_seconds(), cfg.max_lag.total_seconds()
    late_lo, late_hi = cfg.late_min_lag.total_seconds(), cfg.late_max_lag.total_seconds()

    draws: list[tuple[list[float], int]] = [
        ([rng.random() for _ in range(11)], rng.getrandbits(128)) for _ in history.events
    ]
    # Bundle a conversion with the most recent earlier click on the same link.
    merged_into: dict[int, int] = {}
    last_click: dict[str | None, int] = {}
    for idx, e in enumerate(history.events):
        if e.interaction == "click" and not e.after_opt_out:
            last_click[e.link_token] = idx
        elif e.interaction == "conversion" and draws[idx][0][10] < cfg.multi_event_rate:
            click_idx = last_click.pop(e.link_token, None)
            if click_idx is not None:
                merged_into[click_idx] = idx

    bundled_with = {conv: click for click, conv in merged_into.items()}
    for idx, e in enumerate(history.events):
        if idx in merged_into:
            continue
        u, bits = draws[idx]
        events = (history.events[bundled_with[idx]], e) if idx in bundled_with else (e,)
        long_lag = u[0] < cfg.late_rate
        lag_s = late_lo + u[2] * (late_hi - late_lo) if long_lag else lag_lo + u[1] * (lag_hi - lag_lo)
        pub = e.at_us + whole_ms(lag_s)
        out.append((pub, ModelRecord(campaign, "original", events, long_lag=long_lag)))
        if u[3] < cfg.duplicate_rate:
            hour_end = (pub // HOUR_US + 1) * HOUR_US
            if u[4] < cfg.duplicate_next_hour_share:
                dup_pub = hour_end + whole_ms(u[5] * 3599)
            else:
                dup_pub = pub + (int(u[5] * (hour_end - pub)) // US_PER_MS) * US_PER_MS
            out.append((dup_pub, ModelRecord(campaign, "duplicate", events, long_lag=long_lag)))
        if u[6] < cfg.malformed_rate:
            kind = MALFORMED_KINDS[min(int(u[7] * len(MALFORMED_KINDS)), len(MALFORMED_KINDS) - 1)]
            mal_pub = e.at_us + whole_ms(lag_lo + u[9] * (lag_hi - lag_lo))
            record = ModelRecord(
                campaign,
                "malformed",
                (e,),
                malformed_kind=kind,
                variant=int(u[8] * 1000),
                malformed_event_id=uuid_text(bits),
            )
            out.append((mal_pub, record))


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC while allocating millions of long-lived objects.

    Such bulk builds create no garbage cycles, yet each generation-2 pass walks the
    whole growing heap; pausing roughly halves build time at 100k recipients.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_campaign(config: SimulatorConfig) -> Campaign:
    with paused_gc():
        return _build_campaign(config)


def _build_campaign(config: SimulatorConfig) -> Campaign:
    mailings = build_mailings(config)
    generator = Generator(config)
    taken: set[str] = set()
    recipients: list[Recipient] = []
    histories: list[RecipientHistory] = []
    for i in range(config.recipients):
        recipient, history = generator.recipient(i, mailings, taken)
        recipients.append(recipient)
        histories.append(history)
    program_id = f"PRG-{zlib.crc32(config.campaign_code.encode()) % 1_000_000:06d}"
    campaign = Campaign(
        config=config,
        mailings=mailings,
        recipients=tuple(recipients),
        histories=histories,
        records=[],
        published_us=[],
        program_id=program_id,
        program_name=f"{config.campaign_code} Holiday SMS Program",
    )
    published: list[tuple[int, ModelRecord]] = []
    for i, history in enumerate(histories):
        _publish_noise(campaign, i, history, published)
    # Stable sort keeps generation order for equal publication times, which keeps
    # an original ahead of a duplicate published in the same millisecond.
    published.sort(key=lambda p: p[0])
    campaign.published_us = [p for p, _ in published]
    campaign.records = [r for _, r in published]
    return campaign
