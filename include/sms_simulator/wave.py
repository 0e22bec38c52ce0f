"""How recipients react to a wave send: delivery and reactions drawn from a seeded random stream.

Each accepted message gets a delivery outcome and, when delivered, the recipient's reaction
(clicks, conversions, replies, actions, opt-outs) drawn by ``WaveBehaviour`` from a random stream
seeded by (seed, mailing name, phone) only, so a retried or resumed send produces the very same
events.  The reactions come from the campaign model's own per-send code (``generator.Generator``)
fed with the behaviour's rates.

Members of a wave's holdout are never texted, yet some still buy in the web shop or answer an earlier
thread: ``draw_holdout`` gives them a conversion and / or a reply attributed to the wave's mailing,
after the wave starts, from a stream of their own (so texted recipients' reactions never change).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from random import Random
from typing import Any

from .config import SimulatorConfig
from .generator import Generator
from .records import Event, Mailing
from .vocabulary import INTERACTED, REPLY_TEXTS, reply_keyword

FAILED_STATUS_CODE = 30006
MAX_LIFTED_CLICK_RATE = 0.95

_RATE_FIELDS = (
    "click_rate",
    "repeat_click_rate",
    "conversion_rate",
    "conversion_value_share",
    "reply_rate",
    "action_rate",
    "opt_out_rate",
    "stop_reply_share",
    "failure_rate",
    "holdout_conversion_rate",
    "holdout_reply_rate",
)


def _is_number(value: Any) -> bool:
    # bool is an int subclass; "true" as a rate is a client bug, not 1.0.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class WaveDraw:
    """What one accepted send leads to, before the phone's earlier opt-outs are applied."""

    delivered: bool
    status_code: int
    events: tuple[Event, ...]  # interactions in time order, none after the send's own opt-out


@dataclass(frozen=True)
class WaveBehaviour:
    """How recipients react to a wave send; rates are probabilities in [0, 1].

    ``conversion_rate`` and ``repeat_click_rate`` are shares of clickers; ``stop_reply_share`` is
    the share of opt-outs that arrive as a STOP-family reply (the rest as interactionType opt_out).
    ``variant_lift`` multiplies ``click_rate`` for messages of that variant (capped at 0.95).
    Response delays are exponential with mean ``response_delay_mean_s``, between 5 s and
    ``response_delay_cap_s`` (repeat clicks and conversions are delayed from their click).
    ``holdout_conversion_rate`` and ``holdout_reply_rate`` are the shares of holdout members who convert
    (always with a value) or send a free-text reply, delayed from the wave's first message the same way.
    """

    click_rate: float = 0.30
    repeat_click_rate: float = 0.10
    conversion_rate: float = 0.35
    conversion_value_share: float = 0.7
    reply_rate: float = 0.06
    action_rate: float = 0.04
    opt_out_rate: float = 0.04
    stop_reply_share: float = 0.5
    failure_rate: float = 0.04
    holdout_conversion_rate: float = 0.03
    holdout_reply_rate: float = 0.02
    response_delay_mean_s: float = 600.0
    response_delay_cap_s: float = 3000.0
    variant_lift: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    _generators: dict[float, Generator] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number within [0, 1], got {value!r}")
        if not _is_number(self.response_delay_mean_s) or self.response_delay_mean_s <= 0:
            raise ValueError("response_delay_mean_s must be > 0")
        if not _is_number(self.response_delay_cap_s) or self.response_delay_cap_s < 5:
            raise ValueError("response_delay_cap_s must be >= 5")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError("seed must be an integer")
        if not isinstance(self.variant_lift, Mapping):
            raise ValueError("variant_lift must be an object of variant -> multiplier")
        lift: dict[str, float] = {}
        for variant, factor in self.variant_lift.items():
            if not isinstance(variant, str) or not _is_number(factor) or factor < 0:
                raise ValueError(f"variant_lift needs string variants and multipliers >= 0: {variant!r}: {factor!r}")
            lift[variant] = float(factor)
        object.__setattr__(self, "variant_lift", lift)

    def click_rate_for(self, variant: str | None) -> float:
        if variant is None or variant not in self.variant_lift:
            return self.click_rate
        return min(MAX_LIFTED_CLICK_RATE, self.click_rate * self.variant_lift[variant])

    def _generator(self, click_rate: float) -> Generator:
        gen = self._generators.get(click_rate)
        if gen is None:
            # The campaign model's per-send response code, fed with this behaviour's rates.
            config = SimulatorConfig(
                seed=self.seed,
                recipients=0,
                mailings=0,
                failure_rate=self.failure_rate,
                click_rate=click_rate,
                repeat_click_rate=self.repeat_click_rate,
                conversion_rate=self.conversion_rate,
                conversion_value_share=self.conversion_value_share,
                reply_rate=self.reply_rate,
                action_rate=self.action_rate,
                opt_out_rate=self.opt_out_rate,
                stop_reply_share=self.stop_reply_share,
                opt_in_rate=0.0,
                click_after_opt_out_rate=0.0,
                response_delay_mean=timedelta(seconds=self.response_delay_mean_s),
                response_delay_cap=timedelta(seconds=self.response_delay_cap_s),
            )
            gen = self._generators.setdefault(click_rate, Generator(config))
        return gen

    def rng(self, mailing_name: str, phone: str) -> Random:
        # str seeds are hashed with SHA-512: stable across processes, unlike hash().
        return Random(f"wave|{self.seed}|{mailing_name}|{phone}")

    def link_choice(self, mailing_name: str, phone: str, links: int) -> int:
        """Which of a message's links the recipient clicks (all its clicks go to that one), from a stream of its
        own, so the delivery and reaction draws are unchanged."""
        return Random(f"link|{self.seed}|{mailing_name}|{phone}").randrange(links) if links > 1 else 0

    def draw(self, mailing_name: str, phone: str, variant: str | None, send_us: int) -> WaveDraw:
        """Delivery and reactions for one send; depends on nothing but the arguments."""
        rng = self.rng(mailing_name, phone)
        if rng.random() < self.failure_rate:
            return WaveDraw(False, FAILED_STATUS_CODE, ())
        mailing = Mailing(-1, mailing_name, "", send_us, "")
        events, candidate = self._generator(self.click_rate_for(variant)).responses(rng, -1, mailing, send_us, "")
        if candidate is not None:
            # Nothing happens after the opt-out (opt-ins and clicks-after are off for waves).
            events = [e for e in events if e.at_us < candidate.at_us] + [candidate.opt_out]
        events.sort(key=lambda e: e.at_us)
        return WaveDraw(True, 0, tuple(events))

    def draw_holdout(self, mailing_name: str, phone: str, start_us: int) -> tuple[Event, ...]:
        """What a holdout member of the wave does anyway (a conversion, a reply), in time order."""
        rng = Random(f"holdout|{self.seed}|{mailing_name}|{phone}")
        # Both draws are made whatever the rates, so raising one never reshuffles the other.
        converts, replies = rng.random() < self.holdout_conversion_rate, rng.random() < self.holdout_reply_rate
        gen = self._generator(self.click_rate)
        mailing = Mailing(-1, mailing_name, "", start_us, "")
        value = f"{rng.uniform(15, 250):.2f}"
        text = rng.choice(REPLY_TEXTS)
        conversion_at, reply_at = start_us + gen.delay(rng), start_us + gen.delay(rng)
        events = []
        if converts:
            events.append(gen.event(rng, INTERACTED, -1, mailing, conversion_at, interaction="conversion", value=value))
        if replies:
            events.append(gen.event(rng, INTERACTED, -1, mailing, reply_at, interaction="reply", text=text,
                                    keyword=reply_keyword(text)))
        return tuple(sorted(events, key=lambda e: e.at_us))

    def to_json(self) -> dict[str, Any]:
        return {f.name: (dict(self.variant_lift) if f.name == "variant_lift" else getattr(self, f.name))
                for f in fields(self) if f.init}

    def updated(self, changes: Mapping[str, Any]) -> WaveBehaviour:
        """A copy with ``changes`` applied, type-checked as they arrive from JSON."""
        names = {f.name for f in fields(self) if f.init}
        for name in changes:
            if name not in names:
                raise ValueError(f"unknown wave setting {name!r}")
        coerced: dict[str, Any] = dict(changes)
        for name, value in changes.items():
            if name == "seed":
                if not _is_number(value) or float(value) != int(value):
                    raise ValueError("seed must be an integer")
                coerced[name] = int(value)
            elif name != "variant_lift":
                if not _is_number(value):
                    raise ValueError(f"{name} must be a number")
                coerced[name] = float(value)
        return replace(self, **coerced)
