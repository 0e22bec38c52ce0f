"""Quiet hours: never send an SMS wave outside the recipient's local-time window.

The recipient's time zone comes from the phone number (``phonenumbers.timezone``). A number whose
prefix spans several zones is sendable only when the local time is inside the window in *every*
candidate zone. Recipients outside their window are not dropped: :func:`next_send_time` says when
they may be sent, and :func:`split_sendable` splits a wave into "send now" and "send later".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import timezone as pn_timezone

# Searching two days ahead always reaches the next window opening in every real zone (offsets span
# UTC-12..UTC+14, i.e. 26 h); a longer wait only happens when the candidate windows never overlap.
SEARCH_HORIZON = timedelta(hours=48)

# phonenumbers' placeholder for "no idea"; treated as no zone at all so the fallback applies.
_UNKNOWN_TZ = "Etc/Unknown"


class NoCommonWindowError(ValueError):
    """The candidate zones' windows never overlap within the search horizon."""


@dataclass(frozen=True)
class QuietHours:
    """Local-time sending window ``[start, end)`` (end exclusive) plus the zone used for unknown numbers."""

    start: time = time(8, 0)
    end: time = time(21, 0)
    fallback_tz: str = "UTC"

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise ValueError(f"quiet hours {name} must be a datetime.time, got {value!r}")
            # The bounds are wall-clock times in the *recipient's* zone; a fixed tzinfo would be ambiguous.
            if value.tzinfo is not None:
                raise ValueError(f"quiet hours {name} {value.isoformat()} must be a naive local time")
        # A window wrapping midnight (e.g. 22:00-06:00) is not supported: it is almost surely a typo
        # for the quiet period rather than the sending window.
        if not self.start < self.end:
            raise ValueError(
                f"quiet hours start {self.start.isoformat()} must be before end {self.end.isoformat()}"
            )
        try:
            ZoneInfo(self.fallback_tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"quiet hours fallback_tz {self.fallback_tz!r} is not a known IANA time zone") from exc

    def contains(self, local: datetime) -> bool:
        """True if the wall-clock time of ``local`` lies inside the window."""
        return self.start <= local.time() < self.end


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@functools.lru_cache(maxsize=65536)
def recipient_timezones(phone_e164: str) -> tuple[str, ...]:
    """IANA zones phonenumbers associates with the number; empty when unknown.

    Cached because a wave's numbers repeat across events and waves and parsing costs ~25 µs.
    Unparseable numbers give ``()`` (the caller's fallback zone applies) rather than an error: the
    number was validated upstream, and a scheduling helper must not lose a recipient.
    """
    try:
        number = phonenumbers.parse(phone_e164, None)
    except NumberParseException:
        return ()
    zones = pn_timezone.time_zones_for_number(number)
    known = _known_zones()
    # Zones missing from the local tz database are dropped rather than crashing the wave; tzdata
    # is a dependency, so in practice this only removes "Etc/Unknown".
    return tuple(z for z in zones if z != _UNKNOWN_TZ and z in known)


@functools.cache
def _zone(name: str) -> ZoneInfo:
    # ZoneInfo's own strong cache holds only 8 zones; a +1 toll-free number alone has ~40, and
    # re-reading tz files from disk dominated next_send_time. The set of zones is small and bounded.
    return ZoneInfo(name)


def _zones_for(phone_e164: str, quiet: QuietHours) -> tuple[ZoneInfo, ...]:
    names = recipient_timezones(phone_e164) or (quiet.fallback_tz,)
    return tuple(_zone(name) for name in names)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now!r} must be timezone-aware")


def _sendable_in(zones: tuple[ZoneInfo, ...], instant: datetime, quiet: QuietHours) -> bool:
    # Conservative: with several candidate zones we cannot know where the recipient is, so the
    # message goes out only when it is a decent hour in every one of them.
    return all(quiet.contains(instant.astimezone(zone)) for zone in zones)


def is_sendable(phone_e164: str, now: datetime, quiet: QuietHours) -> bool:
    """True if ``now`` is inside the quiet-hours window in every zone the number may be in."""
    _require_aware(now)
    return _sendable_in(_zones_for(phone_e164, quiet), now, quiet)


def _transitions(zone: ZoneInfo, lo: datetime, hi: datetime) -> list[datetime]:
    """UTC instants in ``(lo, hi]`` where the zone's UTC offset changes (DST and the like).

    zoneinfo does not expose its transition table, so probe hourly and bisect to the second (tz
    transitions are whole seconds, and no real zone changes offset twice within an hour).
    """
    found: list[datetime] = []
    step = timedelta(hours=1)
    a = lo
    off_a = a.astimezone(zone).utcoffset()
    while a < hi:
        b = min(a + step, hi)
        off_b = b.astimezone(zone).utcoffset()
        if off_b != off_a:
            left, right = int(a.timestamp()), int(b.timestamp()) + 1
            # Invariant: offset at `left` is the old one, at `right` the new one.
            while right - left > 1:
                mid = (left + right) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == off_a:
                    left = mid
                else:
                    right = mid
            found.append(datetime.fromtimestamp(right, UTC))
        a, off_a = b, off_b
    return found


def _window_openings(zone: ZoneInfo, day: date, start: time) -> list[datetime]:
    """UTC instants at which the local clock reads ``start`` on ``day`` (0, 1 or 2 of them)."""
    out: list[datetime] = []
    for fold in (0, 1):
        local = datetime.combine(day, start, tzinfo=zone).replace(fold=fold)
        utc = local.astimezone(UTC)
        # In a DST gap the wall time does not exist and the round trip lands elsewhere; the
        # transition instant itself is then the opening, and _transitions supplies it.
        back = utc.astimezone(zone)
        if back.replace(tzinfo=None) == local.replace(tzinfo=None):
            out.append(utc)
    return out


def next_send_time(phone_e164: str, now: datetime, quiet: QuietHours) -> datetime:
    """``now`` (in UTC) if sendable, else the earliest UTC instant after it at which it becomes sendable.

    The sendable set is an intersection of per-zone unions of intervals, so its earliest point
    ``>= now`` is ``now`` or the left end of some zone's interval: a local window opening (either
    occurrence of an ambiguous wall time) or an offset transition (a DST jump can enter the window).
    Checking those few candidates in order is exact, DST included, and much cheaper than a minute scan.

    Raises :class:`NoCommonWindowError` if the candidate zones' windows never overlap within
    :data:`SEARCH_HORIZON` (only possible with a narrow window and zones far apart).
    """
    _require_aware(now)
    return _next_in(_zones_for(phone_e164, quiet), now.astimezone(UTC), quiet, phone_e164)


def _next_in(zones: tuple[ZoneInfo, ...], now_utc: datetime, quiet: QuietHours, label: str) -> datetime:
    if _sendable_in(zones, now_utc, quiet):
        return now_utc
    horizon = now_utc + SEARCH_HORIZON
    candidates: set[datetime] = set()
    for zone in zones:
        first_day = now_utc.astimezone(zone).date() - timedelta(days=1)
        for offset in range(5):  # covers the 48 h horizon at any UTC offset
            for opening in _window_openings(zone, first_day + timedelta(days=offset), quiet.start):
                if now_utc < opening <= horizon:
                    candidates.add(opening)
        candidates.update(t for t in _transitions(zone, now_utc, horizon) if now_utc < t <= horizon)
    for candidate in sorted(candidates):
        if _sendable_in(zones, candidate, quiet):
            return candidate
    raise NoCommonWindowError(
        f"{label}: no instant within {SEARCH_HORIZON} of {now_utc.isoformat()} is inside "
        f"{quiet.start.isoformat()}-{quiet.end.isoformat()} in all of {[z.key for z in zones]}"
    )


def wave_send_time(phone_e164: str, now: datetime, quiet: QuietHours) -> datetime:
    """When a wave may text this number: :func:`next_send_time`, with a policy for impossible numbers.

    A number whose candidate zones never share a window (a +1 8xx toll-free number maps to ~40 zones
    from Pacific/Guam to America/St_Johns) would otherwise wait forever. Such a recipient is neither
    dropped nor sent at an arbitrary hour: the quiet hours are applied in ``quiet.fallback_tz`` only
    (the campaign's home zone), which is what a human operator would decide for a number of unknown
    location.
    """
    _require_aware(now)
    try:
        return next_send_time(phone_e164, now, quiet)
    except NoCommonWindowError:
        return _next_in((_zone(quiet.fallback_tz),), now.astimezone(UTC), quiet, phone_e164)


def split_sendable(
    phones: Iterable[str], now: datetime, quiet: QuietHours
) -> tuple[list[str], dict[str, datetime]]:
    """Partition a wave into numbers sendable now (input order kept) and {waiting number: next send time}."""
    _require_aware(now)
    ready: list[str] = []
    waiting: dict[str, datetime] = {}
    for phone in phones:
        if is_sendable(phone, now, quiet):
            ready.append(phone)
        else:
            waiting[phone] = next_send_time(phone, now, quiet)
    return ready, waiting
