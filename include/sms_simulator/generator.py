"""The behaviour model: who is sent what and how each recipient responds, from seeded random streams.

``Generator`` draws a recipient (phone, carrier, hard failure) and the history of each send to
them: delivery, clicks, conversions, replies, actions and opt-outs, with opt-out periods applied so
nobody is sent anything while opted out.  Its ``responses`` also drives single wave sends
(``wave.WaveBehaviour``).  Every draw comes from the recipient's *behaviour* stream
(``BEHAVIOUR_STREAM``), kept apart from the *noise* stream of publication (``build``) so switching
data-quality knobs never changes the campaign itself.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from random import Random
from typing import Any

import phonenumbers

from .clock import whole_ms
from .config import SimulatorConfig
from .records import Event, Mailing, Recipient, RecipientHistory, opted_out_at
from .vocabulary import (
    ACTION_NAMES,
    GB_CARRIERS,
    HARD_FAILURE_CODES,
    INTERACTED,
    OPT_IN_KEYWORDS,
    REPLY_TEXTS,
    SENT,
    SINGLE_WORD_STOP_KEYWORDS,
    SOFT_FAILURE_CODES,
    STOP_KEYWORDS,
    US_AREA_CODES,
    US_CARRIERS,
    US_RENDER_OFFSETS,
    reply_keyword,
)

BEHAVIOUR_STREAM = 1
NOISE_STREAM = 2
_UUID_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_UUID_V4_BITS = (0x4000 << 64) | (0x8000 << 48)


def uuid_text(bits: int) -> str:
    """Random-looking UUIDv4 text from 128 seeded bits (uuid.UUID is 5x slower)."""
    h = f"{(bits & _UUID_VERSION_MASK) | _UUID_V4_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def seeded_rng(seed: int, stream: int, index: int) -> Random:
    # Integer seeding is much cheaper than str seeding (which hashes with SHA-512);
    # the bit layout keeps (seed, stream, index) triples apart.
    return Random(((seed % (1 << 64)) << 48) | (stream << 40) | index)


def _draw_phone(rng: Random, config: SimulatorConfig, taken: set[str]) -> tuple[str, str, str]:
    """Return (e164, display, region), valid per libphonenumber and unique."""
    region = "GB" if rng.random() < config.gb_share else "US"
    style = rng.random()
    while True:
        if region == "US":
            national = rng.choice(US_AREA_CODES) * 10_000_000 + rng.randint(200, 999) * 10_000 + rng.randrange(10_000)
            number = phonenumbers.PhoneNumber(country_code=1, national_number=national)
        else:
            national = 7_400_000_000 + rng.randrange(600_000_000)
            number = phonenumbers.PhoneNumber(country_code=44, national_number=national)
        e164 = f"+{number.country_code}{national}"
        # Valid for the region it was drawn for implies is_valid_number(); it skips the
        # scan over every NANP region and so halves the cost of the whole build.
        if e164 not in taken and phonenumbers.is_valid_number_for_region(number, region):
            break
    taken.add(e164)
    digits = str(national)
    if region == "US":
        if style < 1 - config.national_format_share:
            display = e164
        elif style < 1 - config.national_format_share / 2:
            display = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        else:
            display = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    elif style < 0.6:
        display = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    else:
        display = e164
    return e164, display, region


def _draw_link_token(rng: Random) -> str:
    # 48 bits -> 8 URL-safe characters in one C call; this runs for every planned send.
    return base64.urlsafe_b64encode(rng.getrandbits(48).to_bytes(6, "big")).decode()


@dataclass(slots=True)
class OptOutCandidate:
    at_us: int
    opt_out: Event
    opt_in: Event | None
    click_after: Event | None


class Generator:
    """Per-recipient behaviour; ``responses`` also drives single wave sends (wave.WaveBehaviour)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.delay_mean_s = config.response_delay_mean.total_seconds()
        self.delay_cap_s = config.response_delay_cap.total_seconds()
        self.opt_in_mean_s = config.opt_in_delay_mean.total_seconds()
        p_fail = config.failure_rate
        self.p_hard_recipient = p_fail * config.hard_failure_share
        # Soft failures only hit numbers that are not hard-failing, so rescale to keep
        # the overall failure rate near ``failure_rate``.
        remaining = 1 - self.p_hard_recipient
        self.p_soft_send = (p_fail - self.p_hard_recipient) / remaining if remaining > 0 else 0.0

    def delay(self, rng: Random, mean_s: float | None = None) -> int:
        seconds = rng.expovariate(1.0 / (mean_s or self.delay_mean_s))
        return whole_ms(max(5.0, min(seconds, self.delay_cap_s)))

    def event(self, rng: Random, code: str, recipient: int, mailing: Mailing, at_us: int, **kw: Any) -> Event:
        return Event(uuid_text(rng.getrandbits(128)), code, recipient, mailing.index, mailing.name, at_us, **kw)

    def responses(
        self, rng: Random, recipient: int, mailing: Mailing, send_us: int, link_token: str
    ) -> tuple[list[Event], OptOutCandidate | None]:
        """Interactions a delivered send provokes, before opt-out filtering."""
        cfg = self.config
        out: list[Event] = []

        def interaction(kind: str, at_us: int, **kw: Any) -> Event:
            return self.event(rng, INTERACTED, recipient, mailing, at_us, interaction=kind, **kw)

        if rng.random() < cfg.click_rate:
            click = interaction("click", send_us + self.delay(rng), link_token=link_token)
            out.append(click)
            if rng.random() < cfg.repeat_click_rate:
                out.append(interaction("click", click.at_us + self.delay(rng), link_token=link_token))
            if rng.random() < cfg.conversion_rate:
                value = f"{rng.uniform(15, 250):.2f}" if rng.random() < cfg.conversion_value_share else None
                out.append(interaction("conversion", click.at_us + self.delay(rng), link_token=link_token, value=value))
        if rng.random() < cfg.reply_rate:
            text = rng.choice(REPLY_TEXTS)
            out.append(interaction("reply", send_us + self.delay(rng), text=text, keyword=reply_keyword(text)))
        if rng.random() < cfg.action_rate:
            out.append(interaction("action", send_us + self.delay(rng), text=rng.choice(ACTION_NAMES)))
        candidate = None
        if rng.random() < cfg.opt_out_rate:
            at = send_us + self.delay(rng)
            if rng.random() < cfg.stop_reply_share:
                word = rng.choice(SINGLE_WORD_STOP_KEYWORDS)
                text = rng.choice((word, word.capitalize(), word.lower(), f"{word.capitalize()}."))
                opt_out = interaction("reply", at, text=text, keyword=reply_keyword(text))
            else:
                word = rng.choice(STOP_KEYWORDS)
                opt_out = interaction("opt_out", at, text=rng.choice((word, word.lower())), keyword=word)
            opt_in = None
            if rng.random() < cfg.opt_in_rate:
                word = rng.choice(OPT_IN_KEYWORDS)
                opt_in = interaction("opt_in", at + self.delay(rng, self.opt_in_mean_s), text=word, keyword=word)
            click_after = None
            if rng.random() < cfg.click_after_opt_out_rate:
                click_after = interaction("click", at + self.delay(rng), link_token=link_token, after_opt_out=True)
            candidate = OptOutCandidate(at, opt_out, opt_in, click_after)
        return out, candidate

    def recipient(self, i: int, mailings: Sequence[Mailing], taken: set[str]) -> tuple[Recipient, RecipientHistory]:
        cfg = self.config
        rng = seeded_rng(cfg.seed, BEHAVIOUR_STREAM, i)
        e164, display, region = _draw_phone(rng, cfg, taken)
        carrier = rng.choice(US_CARRIERS if region == "US" else GB_CARRIERS)
        offset = rng.choice(US_RENDER_OFFSETS) if region == "US" else 0
        hard = None
        if rng.random() < self.p_hard_recipient:
            hard = rng.choice(sorted(HARD_FAILURE_CODES))
        recipient = Recipient(i, f"C{i + 1:06d}", e164, display, region, carrier, offset, hard)

        spread_s = cfg.send_spread.total_seconds()
        plan: list[tuple[int, Mailing, str]] = []
        for mailing in mailings:
            included = mailing.index == 0 or rng.random() < cfg.later_mailing_share
            send_us = mailing.scheduled_us + whole_ms(rng.uniform(0, spread_s))
            token = _draw_link_token(rng)
            if included:
                plan.append((send_us, mailing, token))
        plan.sort(key=lambda p: (p[0], p[1].index))

        events: list[Event] = []
        candidates: list[OptOutCandidate] = []
        periods: list[tuple[int, int | None]] = []
        suppressed: list[int] = []
        for send_us, mailing, token in plan:
            # Candidates accepted so far all lie after earlier sends, and new ones lie
            # after this send, so this check never needs revisiting.
            if opted_out_at(periods, send_us):
                suppressed.append(mailing.index)
                continue
            if hard is not None:
                status, code = HARD_FAILURE_CODES[hard], hard
            elif rng.random() < self.p_soft_send:
                code = rng.choice(sorted(SOFT_FAILURE_CODES))
                status = SOFT_FAILURE_CODES[code]
            else:
                status, code = "delivered", 0
            events.append(
                self.event(rng, SENT, i, mailing, send_us, delivery_status=status, status_code=code, link_token=token)
            )
            if status != "delivered":
                continue
            responses, candidate = self.responses(rng, i, mailing, send_us, token)
            events.extend(responses)
            if candidate is not None:
                candidates.append(candidate)
                periods = _accept_opt_outs(candidates)[1]

        accepted, periods = _accept_opt_outs(candidates)
        final = [e for e in events if e.code == SENT or not opted_out_at(periods, e.at_us)]
        for c in accepted:
            final.append(c.opt_out)
            if c.opt_in is not None:
                final.append(c.opt_in)
            # The deliberate "click after opt-out" only counts while still opted out.
            if c.click_after is not None and (c.opt_in is None or c.click_after.at_us < c.opt_in.at_us):
                final.append(c.click_after)
        # Stable order: time, then sends before interactions at the same instant.
        final.sort(key=lambda e: (e.at_us, e.code != SENT))
        return recipient, RecipientHistory(final, periods, suppressed)


def _accept_opt_outs(
    candidates: list[OptOutCandidate],
) -> tuple[list[OptOutCandidate], list[tuple[int, int | None]]]:
    """Opt-out periods: an opt-out while already opted out is ignored (with its opt-in)."""
    accepted: list[OptOutCandidate] = []
    periods: list[tuple[int, int | None]] = []
    for c in sorted(candidates, key=lambda c: c.at_us):
        if periods and opted_out_at(periods[-1:], c.at_us):
            continue
        accepted.append(c)
        periods.append((c.at_us, c.opt_in.at_us if c.opt_in is not None else None))
    return accepted, periods

