"""The knobs of the campaign model, validated once when the config is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .vocabulary import sanitise_name

DEFAULT_CAMPAIGN_START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SimulatorConfig:
    """All knobs of the behaviour model.  Rates are probabilities in [0, 1].

    Data-quality rates (``late_rate``, ``duplicate_rate``, ``malformed_rate``,
    ``multi_event_rate``) default to 0 so a plain config gives clean data;
    tests and demos opt in explicitly.
    """

    seed: int = 7
    recipients: int = 2000
    mailings: int = 3
    campaign_code: str = "SPRING26"
    campaign_start: datetime = DEFAULT_CAMPAIGN_START
    mailing_interval: timedelta = timedelta(hours=2)
    send_spread: timedelta = timedelta(minutes=10)
    later_mailing_share: float = 0.9
    # Delivery
    failure_rate: float = 0.08
    hard_failure_share: float = 0.35
    # Responses, per delivered send unless stated otherwise
    click_rate: float = 0.18
    repeat_click_rate: float = 0.15  # of clickers
    conversion_rate: float = 0.30  # of clickers
    conversion_value_share: float = 0.7  # of conversions carrying a value
    reply_rate: float = 0.06
    action_rate: float = 0.08
    opt_out_rate: float = 0.02
    stop_reply_share: float = 0.3  # of opt-outs that arrive as interactionType=reply
    opt_in_rate: float = 0.10  # of opt-outs
    click_after_opt_out_rate: float = 0.10  # of opt-outs
    response_delay_mean: timedelta = timedelta(minutes=40)
    response_delay_cap: timedelta = timedelta(hours=23)
    opt_in_delay_mean: timedelta = timedelta(hours=3)
    # Phones
    gb_share: float = 0.05
    national_format_share: float = 0.15  # of US numbers
    # Publication / data quality
    min_lag: timedelta = timedelta(minutes=1)
    max_lag: timedelta = timedelta(minutes=10)
    late_rate: float = 0.0
    late_min_lag: timedelta = timedelta(hours=1)
    late_max_lag: timedelta = timedelta(hours=6)
    duplicate_rate: float = 0.0
    duplicate_next_hour_share: float = 0.25
    malformed_rate: float = 0.0
    multi_event_rate: float = 0.0  # of conversions bundled with their click in one envelope

    def __post_init__(self) -> None:
        if self.recipients < 0 or self.mailings < 0:
            raise ValueError("recipients and mailings must be >= 0")
        if self.campaign_start.tzinfo is None or self.campaign_start.utcoffset() is None:
            raise ValueError("campaign_start must be timezone-aware")
        if not sanitise_name(self.campaign_code):
            raise ValueError("campaign_code must contain at least one [A-Za-z0-9_] character")
        for name, value in asdict(self).items():
            if name.endswith(("_rate", "_share")) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.mailing_interval < timedelta(0) or self.send_spread < timedelta(0):
            raise ValueError("mailing_interval and send_spread must be >= 0")
        if not timedelta(0) < self.min_lag <= self.max_lag:
            raise ValueError("need 0 < min_lag <= max_lag")
        if not timedelta(0) < self.late_min_lag <= self.late_max_lag:
            raise ValueError("need 0 < late_min_lag <= late_max_lag")
        if self.response_delay_mean <= timedelta(0) or self.opt_in_delay_mean <= timedelta(0):
            raise ValueError("delay means must be > 0")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                out[name] = value.isoformat()
            elif isinstance(value, timedelta):
                out[name] = value.total_seconds()
            else:
                out[name] = value
        return out
