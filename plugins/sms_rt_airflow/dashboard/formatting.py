"""How figures read on a page: counts with separators, rates as percentages, empty for a missing value.

A rate whose denominator is 0 is NULL in the metric tables (docs/metrics.md); it reads as an em dash,
never as 0 %. ``records`` turns a report's DataFrame into rows whose missing values are ``None``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

MISSING = "—"


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def number(value: Any) -> float | None:
    """A figure as a float, or None when it is missing (NULL, NaN)."""
    return None if is_missing(value) else float(value)


def _clean(value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") and not isinstance(value, (Decimal, str)) else value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as dicts of plain Python values, missing values as ``None``."""
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict("records")]


def first(df: pd.DataFrame) -> dict[str, Any]:
    rows = records(df.head(1))
    return rows[0] if rows else {}


def count(value: Any) -> str:
    if is_missing(value):
        return MISSING
    number = float(value)
    return f"{int(number):,}" if number == int(number) else f"{number:,.2f}"


def rate(value: Any, digits: int = 1) -> str:
    """A share as a percentage: 0.1234 → 12.3 %."""
    if is_missing(value):
        return MISSING
    return f"{float(value) * 100:.{digits}f} %"


def points(value: Any) -> str:
    """A difference of rates in percentage points: 0.052 → +5.2 pp."""
    if is_missing(value):
        return MISSING
    return f"{float(value) * 100:+.1f} pp"


def amount(value: Any) -> str:
    """Credits and conversion value: up to two decimals, separators."""
    if is_missing(value):
        return MISSING
    number = float(value)
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


def pvalue(value: Any) -> str:
    """A p-value to three significant digits."""
    return MISSING if is_missing(value) else f"{float(value):.3g}"


def label(value: Any) -> str:
    """A state or name as words: sample_passed → sample passed."""
    return MISSING if is_missing(value) or value == "" else str(value).replace("_", " ")


def minutes(value: Any) -> str:
    if is_missing(value):
        return MISSING
    m = float(value)
    if m < 60:
        return f"{m:.0f} min"
    if m < 48 * 60:
        return f"{m / 60:.1f} h"
    return f"{m / 1440:.1f} d"


def when(value: Any) -> str:
    """An instant in UTC to the minute (the metric tables and windows are in UTC)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC) if value.tzinfo else value:%Y-%m-%d %H:%M} UTC"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def day(value: Any) -> str:
    if is_missing(value):
        return MISSING
    return f"{value:%b %d}" if isinstance(value, (date, datetime)) else str(value)


def raw(value: Any) -> str:
    """The exact value for a ``data-value`` attribute (tests compare it with the metrics layer's)."""
    if is_missing(value):
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


FILTERS = {
    "count": count, "rate": rate, "points": points, "amount": amount, "pvalue": pvalue, "label": label,
    "minutes": minutes, "when": when, "day": day, "raw": raw,
}
