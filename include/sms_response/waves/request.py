"""The wave request: what a wave asks for (:class:`WaveSpec`), its validation, and the names and keys derived from it.

A request is validated once, when it is built; the mailing name and the per-recipient idempotency keys are
pure functions of it, so every retry derives the same ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any

from sms_response.errors import SmsResponseError
from sms_response.run_conf import MAILING_NAME_PATTERN
from sms_response.scheduling import QuietHours
from sms_response.waves.targeting import AudienceError, AudienceSpec

SEGMENTS = ("responders", "non_responders")

MAILING_NAME_MAX = 128
MAX_BATCH = 1000


class WaveError(SmsResponseError):
    """A wave cannot go on; the message says why and what was (not) sent."""


def sanitise_name(raw: str) -> str:
    """What the campaign tool does to names: anything outside [A-Za-z0-9_] becomes one underscore."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")


def wave_mailing_name(campaign_code: str, wave_name: str, stamp: datetime) -> str:
    """Unique mailing name: campaign code, wave / process-box name and the request's UTC timestamp."""
    if stamp.tzinfo is None:
        raise WaveError("the wave timestamp must be timezone-aware")
    code, wave = sanitise_name(campaign_code), sanitise_name(wave_name)
    if not code or not wave:
        raise WaveError(f"campaign code {campaign_code!r} and wave name {wave_name!r} must contain letters or digits")
    suffix = stamp.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    head = f"{code}_{wave}"[: MAILING_NAME_MAX - len(suffix) - 1]
    return f"{head}_{suffix}"


def idempotency_key(mailing_name: str, phone_e164: str) -> str:
    """One key per recipient and mailing: the platform sends a key at most once, whoever retries."""
    return hashlib.sha256(f"{mailing_name}|{phone_e164}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class WaveSpec:
    """What a wave request asks for (the DAG's Params)."""

    campaign_code: str
    wave_name: str
    source_mailing: str  # the segment source's mailing ("" for a view, query or list audience)
    segment: str
    variants: dict[str, str]  # variant name -> message template, in order; the first is the control
    sample_size: int = 10
    sample_threshold: float = 0.9
    batch_size: int = 100
    holdout_pct: float = 0.0
    quiet_start: str = "08:00"
    quiet_end: str = "21:00"
    quiet_fallback_tz: str = "America/New_York"
    winner_metric: str = "click_rate"
    min_per_variant: int = 30
    alpha: float = 0.05
    audience: AudienceSpec = field(default_factory=AudienceSpec)

    def __post_init__(self) -> None:
        if isinstance(self.audience, dict):  # read back from the stored JSON
            try:
                object.__setattr__(self, "audience", AudienceSpec(**self.audience))
            except (TypeError, AudienceError) as exc:
                raise WaveError(f"audience: {exc}") from exc
        if self.audience.source == "segment":
            if self.segment not in SEGMENTS:
                raise WaveError(f"segment must be one of {', '.join(SEGMENTS)}, not {self.segment!r}")
            if not re.fullmatch(MAILING_NAME_PATTERN, self.source_mailing):
                raise WaveError(f"source_mailing {self.source_mailing!r} is not a mailing name (the segment source "
                                "needs the earlier mailing)")
            if self.audience.responder_filtered and self.segment != "responders":
                raise WaveError("response filters (response_types, action_names, link) select responders: "
                                "use segment 'responders'")
        elif self.source_mailing:
            raise WaveError(f"source_mailing is only for the segment source, not {self.audience.source!r}")
        if not self.variants:
            raise WaveError("a wave needs a message template")
        for name in self.variants:
            if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", name):
                raise WaveError(f"variant name {name!r} must be 1-32 letters, digits or underscores")
        if self.sample_size < 1:
            raise WaveError(f"sample_size must be at least 1, got {self.sample_size}")
        if not 0.0 <= self.sample_threshold <= 1.0:
            raise WaveError(f"sample_threshold must be a delivery rate in [0, 1], got {self.sample_threshold}")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise WaveError(f"batch_size must be within 1..{MAX_BATCH}, got {self.batch_size}")
        self.quiet_hours()  # validates the window and the fallback zone

    @property
    def segment_label(self) -> str:
        """What ``wave_recipients.segment`` records: the segment, or the kind of source."""
        return self.segment if self.audience.source == "segment" else self.audience.source

    def quiet_hours(self) -> QuietHours:
        try:
            return QuietHours(dtime.fromisoformat(self.quiet_start), dtime.fromisoformat(self.quiet_end),
                              self.quiet_fallback_tz)
        except ValueError as exc:
            raise WaveError(f"quiet hours: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

