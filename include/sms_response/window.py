"""Data windows: half-open publication-time intervals ``[start, end)``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sms_response.errors import WindowError


def parse_ts(value: str | datetime) -> datetime:
    """Parse an ISO-8601 timestamp that must carry a UTC offset; return it in UTC."""
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise WindowError(f"not an ISO-8601 timestamp: {value!r}") from exc
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise WindowError(f"timestamp {value!r} has no time zone; give an offset such as +00:00 or Z")
    return dt.astimezone(UTC)


@dataclass(frozen=True, order=True)
class Window:
    """One unit of loading. ``filter_key`` distinguishes narrowed (filtered) loads of the same span."""

    start: datetime
    end: datetime
    filter_key: str = ""

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            v = getattr(self, name)
            if v.tzinfo is None or v.utcoffset() is None:
                raise WindowError(f"window {name} {v!r} has no time zone")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end <= self.start:
            raise WindowError(
                f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}"
            )

    @classmethod
    def from_iso(cls, start: str | datetime, end: str | datetime, filter_key: str = "") -> Window:
        return cls(parse_ts(start), parse_ts(end), filter_key)

    @classmethod
    def filtered(
        cls, start: datetime, end: datetime, codes: Sequence[str] = (), mailings: Sequence[str] = ()
    ) -> Window:
        """A window narrowed to some event codes / mailings gets its own identity (and landing folder)."""
        if not codes and not mailings:
            return cls(start, end)
        raw = "codes=" + ",".join(sorted(codes)) + ";mailings=" + ",".join(sorted(mailings))
        return cls(start, end, hashlib.sha256(raw.encode()).hexdigest()[:10])

    @property
    def id(self) -> str:
        """Stable, filesystem- and SQL-safe identifier, e.g. ``20261120T0900Z-20261120T1000Z``."""
        fmt = "%Y%m%dT%H%M%SZ"
        base = f"{self.start.strftime(fmt)}-{self.end.strftime(fmt)}"
        return f"{base}-f{self.filter_key}" if self.filter_key else base

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts < self.end

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime


def resolve_run_window(
    *,
    window_start: str | datetime | None,
    window_end: str | datetime | None,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    run_after: datetime | None,
    default_span: timedelta = timedelta(hours=1),
) -> Span:
    """The window a DAG run processes, always well defined.

    1. ``window_start`` and ``window_end`` from the run's conf/params, when given (both or none);
    2. else the run's data interval, when it is a real interval (scheduled runs, backfills);
    3. else (a REST-triggered run with ``logical_date: null``) the last complete hour before
       ``run_after``.
    """
    if (window_start is None) != (window_end is None):
        raise WindowError("give both window_start and window_end, or neither")
    if window_start is not None and window_end is not None:
        w = Window.from_iso(window_start, window_end)
        return Span(w.start, w.end)
    if data_interval_start is not None and data_interval_end is not None and data_interval_end > data_interval_start:
        w = Window(data_interval_start, data_interval_end)
        return Span(w.start, w.end)
    if run_after is None:
        raise WindowError("the run has no data interval, no run_after and no window in its conf")
    ra = parse_ts(run_after)
    step = int(default_span.total_seconds())
    end = datetime.fromtimestamp(int(ra.timestamp()) // step * step, UTC)
    return Span(end - default_span, end)
