"""What the campaign metrics truth is asked for: which mailings, up to which publication time, at which prices.

``GET /sim/truth/metrics`` parses its query parameters into a ``MetricsQuery`` once; ``metrics_truth``
computes the figures it asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .clock import parse_aware

DEFAULT_WINDOW = timedelta(hours=72)


@dataclass(frozen=True)
class MetricsQuery:
    """Which figures to compute: ``mailings`` (None: all, or those of ``campaign``), up to ``until``."""

    mailings: tuple[str, ...] | None = None
    campaign: str | None = None
    until: datetime | None = None
    response_window: timedelta = DEFAULT_WINDOW
    price_gsm7: Decimal = Decimal(1)
    price_ucs2: Decimal = Decimal(1)

    @classmethod
    def parse(cls, params: Mapping[str, str], mailings: Sequence[str] = ()) -> MetricsQuery:
        """From query parameters (``mailing`` may repeat); ValueError names the offending one."""
        until = None
        if params.get("until"):
            try:
                until = parse_aware(params["until"])
            except ValueError as exc:
                raise ValueError("until must be an ISO-8601 timestamp with timezone (URL-encode a '+')") from exc
        hours = _number(params, "response_window_hours", Decimal(72))
        if hours <= 0:
            raise ValueError("response_window_hours must be > 0")
        prices = {name: _number(params, name, Decimal(1)) for name in ("price_gsm7", "price_ucs2")}
        if any(p < 0 for p in prices.values()):
            raise ValueError("credits per part must not be negative")
        names = tuple(m for m in mailings if m) or None
        return cls(names, params.get("campaign") or None, until, timedelta(hours=float(hours)), **prices)

    def to_json(self) -> dict[str, Any]:
        return {
            "mailings": list(self.mailings) if self.mailings is not None else None,
            "campaign": self.campaign,
            "until": self.until.isoformat() if self.until is not None else None,
            "response_window_hours": self.response_window / timedelta(hours=1),
            "price_gsm7": str(self.price_gsm7),
            "price_ucs2": str(self.price_ucs2),
        }


def _number(params: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    raw = params.get(name)
    if not raw:
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    return value
