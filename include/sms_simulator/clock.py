"""Time on the platform: integer microseconds since the epoch, and their ISO-8601 rendering.

The simulator keeps every instant as an ``int`` of microseconds: integer arithmetic avoids float
rounding, and a flat list of ints is far cheaper to sort and bisect than datetimes.  The platform
itself works to the millisecond, so generated durations and send times are whole milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_S = 1_000_000
US_PER_MS = 1_000
HOUR_US = 3600 * US_PER_S


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch; integer arithmetic avoids float rounding."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"timestamp must be timezone-aware: {dt.isoformat()}")
    return (dt - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def iso(us: int, offset_minutes: int = 0) -> str:
    tz = UTC if offset_minutes == 0 else timezone(timedelta(minutes=offset_minutes))
    return from_us(us).astimezone(tz).isoformat(timespec="milliseconds")


def parse_aware(value: str) -> datetime:
    """Parse an ISO-8601 timestamp, insisting on an explicit offset."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"timestamp has no timezone: {value!r}")
    return dt


def whole_ms(seconds: float) -> int:
    """Round a duration to whole milliseconds, in microseconds (platform resolution)."""
    return round(seconds * 1000) * US_PER_MS


def floor_ms(us: int) -> int:
    """An instant truncated to the platform's millisecond."""
    return us // US_PER_MS * US_PER_MS
