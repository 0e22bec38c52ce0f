"""Data windows: half-open publication-time intervals ``[start, end)``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
    """One unit of loading: the publication-time span ``[start, end)`` and the run's filters.

    Built once per run (``run_conf.RunConf.window``), passed from task to task as ``to_dict()`` and
    never rebuilt from the context. Its ``id`` names the window everywhere: the landing folder,
    ``manifest.json``, and the ``load_id`` column of every row it loaded.
    """

    start: datetime
    end: datetime
    event_codes: tuple[str, ...] = ()
    mailing_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            v = getattr(self, name)
            if v.tzinfo is None or v.utcoffset() is None:
                raise WindowError(f"window {name} {v!r} has no time zone")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        # The same filters in another order are the same window (and id).
        object.__setattr__(self, "event_codes", tuple(sorted(self.event_codes)))
        object.__setattr__(self, "mailing_names", tuple(sorted(self.mailing_names)))
        if self.end <= self.start:
            raise WindowError(
                f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}"
            )

    @classmethod
    def from_iso(cls, start: str | datetime, end: str | datetime) -> Window:
        return cls(parse_ts(start), parse_ts(end))

    @classmethod
    def filtered(
        cls, start: datetime, end: datetime, codes: Sequence[str] = (), mailings: Sequence[str] = ()
    ) -> Window:
        """A window narrowed to some event codes / mailings; it gets its own identity (and landing folder)."""
        return cls(start, end, tuple(codes), tuple(mailings))

    @property
    def filter_key(self) -> str:
        """Empty for a whole window; else a short hash of the filters, part of ``id``."""
        if not self.event_codes and not self.mailing_names:
            return ""
        raw = "codes=" + ",".join(self.event_codes) + ";mailings=" + ",".join(self.mailing_names)
        return hashlib.sha256(raw.encode()).hexdigest()[:10]

    @property
    def id(self) -> str:
        """Stable, filesystem- and SQL-safe identifier, e.g. ``20261120T090000Z-20261120T100000Z``."""
        fmt = "%Y%m%dT%H%M%SZ"
        base = f"{self.start.strftime(fmt)}-{self.end.strftime(fmt)}"
        return f"{base}-f{self.filter_key}" if self.filter_key else base

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts < self.end

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (XCom); ``window_id`` is included for readers and checked on the way back."""
        return {
            "window_id": self.id,
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "event_codes": list(self.event_codes),
            "mailing_names": list(self.mailing_names),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Window:
        """The inverse of ``to_dict``; refuses a value whose ``window_id`` does not match its fields."""
        try:
            w = cls(
                parse_ts(value["window_start"]), parse_ts(value["window_end"]),
                tuple(value.get("event_codes") or ()), tuple(value.get("mailing_names") or ()),
            )
        except (KeyError, TypeError) as exc:
            raise WindowError(f"not a window value: {value!r}") from exc
        if value.get("window_id", w.id) != w.id:
            raise WindowError(f"window value {value['window_id']!r} does not match its fields ({w.id})")
        return w

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
