from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_response.scheduling import (
    NoCommonWindowError,
    QuietHours,
    is_sendable,
    next_send_time,
    recipient_timezones,
    split_sendable,
    wave_send_time,
)

NEW_YORK = "+12125550100"
LOS_ANGELES = "+13105550100"
LONDON_MOBILE = "+447911123456"
ALASKA = "+19075550100"  # America/Adak (UTC-10 in winter) and America/Anchorage (UTC-9)
TOLL_FREE = "+18005550100"  # ~40 zones from Guam to Pago Pago
AUSTRALIA_MOBILE = "+61412345678"  # Perth to Lord Howe, with and without DST
UNKNOWN = "+15555550100"  # 555 area code: no zone known

Q = QuietHours()


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_fixture_numbers_are_valid_and_map_to_the_expected_zones() -> None:
    for phone in (NEW_YORK, LOS_ANGELES, LONDON_MOBILE, ALASKA, TOLL_FREE, AUSTRALIA_MOBILE):
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone)), phone
    assert recipient_timezones(NEW_YORK) == ("America/New_York",)
    assert recipient_timezones(LOS_ANGELES) == ("America/Los_Angeles",)
    assert "Europe/London" in recipient_timezones(LONDON_MOBILE)
    assert set(recipient_timezones(ALASKA)) == {"America/Adak", "America/Anchorage"}
    assert len(recipient_timezones(TOLL_FREE)) > 10
    assert recipient_timezones(UNKNOWN) == ()  # "Etc/Unknown" is dropped
    assert recipient_timezones("not a number") == ()


def test_recipient_timezones_is_cached() -> None:
    recipient_timezones.cache_clear()
    recipient_timezones(NEW_YORK)
    recipient_timezones(NEW_YORK)
    assert recipient_timezones.cache_info().hits == 1


def test_new_york_window_opens_at_0800_est() -> None:
    assert is_sendable(NEW_YORK, utc(2026, 11, 20, 13, 0), Q)
    assert not is_sendable(NEW_YORK, utc(2026, 11, 20, 12, 59), Q)
    assert next_send_time(NEW_YORK, utc(2026, 11, 20, 12, 59), Q) == utc(2026, 11, 20, 13, 0)


def test_sendable_now_is_returned_as_utc() -> None:
    now = datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    result = next_send_time(NEW_YORK, now, Q)
    assert result == now
    assert result.tzinfo is UTC


def test_los_angeles_waits_until_0800_pst() -> None:
    now = utc(2026, 11, 20, 13, 0)  # 05:00 PST
    assert not is_sendable(LOS_ANGELES, now, Q)
    assert next_send_time(LOS_ANGELES, now, Q) == utc(2026, 11, 20, 16, 0)


def test_london_after_hours_waits_until_next_morning() -> None:
    now = utc(2026, 11, 20, 21, 30)  # GMT in November
    assert not is_sendable(LONDON_MOBILE, now, Q)
    assert next_send_time(LONDON_MOBILE, now, Q) == utc(2026, 11, 21, 8, 0)


def test_end_bound_is_exclusive() -> None:
    assert is_sendable(NEW_YORK, utc(2026, 11, 21, 1, 59, 59), Q)  # 20:59:59 EST
    assert not is_sendable(NEW_YORK, utc(2026, 11, 21, 2, 0), Q)  # 21:00 EST
    assert next_send_time(NEW_YORK, utc(2026, 11, 21, 2, 0), Q) == utc(2026, 11, 21, 13, 0)


def test_july_uses_eastern_daylight_time() -> None:
    assert is_sendable(NEW_YORK, utc(2026, 7, 15, 12, 0), Q)
    assert not is_sendable(NEW_YORK, utc(2026, 7, 15, 11, 59), Q)
    assert next_send_time(NEW_YORK, utc(2026, 7, 15, 3, 0), Q) == utc(2026, 7, 15, 12, 0)


def test_waiting_across_spring_forward_uses_the_new_offset() -> None:
    # 2026-03-07 21:30 EST; the clocks go forward overnight, so 08:00 on the 8th is EDT = 12:00 UTC.
    assert next_send_time(NEW_YORK, utc(2026, 3, 8, 2, 30), Q) == utc(2026, 3, 8, 12, 0)


def test_window_start_inside_a_dst_gap_opens_at_the_transition() -> None:
    q = QuietHours(start=time(2, 30), end=time(21, 0))
    # 02:30 does not exist on 2026-03-08 in New York: 01:59:59 EST is followed by 03:00 EDT (07:00 UTC).
    assert next_send_time(NEW_YORK, utc(2026, 3, 8, 6, 0), q) == utc(2026, 3, 8, 7, 0)


def test_fall_back_can_reenter_the_window() -> None:
    q = QuietHours(start=time(0, 0), end=time(1, 30))
    now = utc(2026, 11, 1, 5, 30)  # 01:30 EDT: just past the window
    assert not is_sendable(NEW_YORK, now, q)
    # At 06:00 UTC the clock falls back to 01:00 EST, inside the window again.
    assert next_send_time(NEW_YORK, now, q) == utc(2026, 11, 1, 6, 0)


def test_several_candidate_zones_must_all_be_in_window() -> None:
    # November: Anchorage is UTC-9, Adak UTC-10.
    now = utc(2026, 11, 20, 17, 30)  # 08:30 Anchorage, 07:30 Adak
    assert not is_sendable(ALASKA, now, Q)
    assert next_send_time(ALASKA, now, Q) == utc(2026, 11, 20, 18, 0)  # 08:00 Adak
    assert is_sendable(ALASKA, utc(2026, 11, 21, 5, 59), Q)  # 20:59 Anchorage, 19:59 Adak
    assert not is_sendable(ALASKA, utc(2026, 11, 21, 6, 0), Q)  # 21:00 Anchorage


def test_unknown_zone_uses_fallback() -> None:
    now = utc(2026, 11, 20, 7, 0)
    assert not is_sendable(UNKNOWN, now, Q)  # 07:00 UTC
    assert next_send_time(UNKNOWN, now, Q) == utc(2026, 11, 20, 8, 0)
    tokyo = QuietHours(fallback_tz="Asia/Tokyo")
    assert is_sendable(UNKNOWN, now, tokyo)  # 16:00 JST


def test_naive_now_is_rejected() -> None:
    naive = datetime(2026, 11, 20, 13, 0)
    for fn in (is_sendable, next_send_time):
        with pytest.raises(ValueError, match="timezone-aware"):
            fn(NEW_YORK, naive, Q)
    with pytest.raises(ValueError, match="timezone-aware"):
        split_sendable([NEW_YORK], naive, Q)


def test_split_sendable_partitions() -> None:
    now = utc(2026, 11, 20, 14, 0)  # 09:00 New York, 06:00 Los Angeles, 14:00 London
    ready, waiting = split_sendable([NEW_YORK, LOS_ANGELES, LONDON_MOBILE, ALASKA], now, Q)
    assert ready == [NEW_YORK, LONDON_MOBILE]
    assert waiting == {LOS_ANGELES: utc(2026, 11, 20, 16, 0), ALASKA: utc(2026, 11, 20, 18, 0)}
    assert split_sendable([], now, Q) == ([], {})


def test_quiet_hours_validation() -> None:
    with pytest.raises(ValueError, match="21:00:00 must be before end 08:00:00"):
        QuietHours(start=time(21, 0), end=time(8, 0))
    with pytest.raises(ValueError, match="must be before end"):
        QuietHours(start=time(9, 0), end=time(9, 0))
    with pytest.raises(ValueError, match="'Mars/Olympus'"):
        QuietHours(fallback_tz="Mars/Olympus")
    with pytest.raises(ValueError, match="naive local time"):
        QuietHours(start=time(8, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="datetime.time"):
        QuietHours(start="08:00")  # type: ignore[arg-type]
    assert QuietHours() == QuietHours(time(8, 0), time(21, 0), "UTC")


def test_windows_that_never_overlap_raise() -> None:
    # One hour a day cannot be daytime both in Guam and in Pago Pago.
    with pytest.raises(NoCommonWindowError, match="no instant"):
        next_send_time(TOLL_FREE, utc(2026, 11, 20, 0, 0), QuietHours(time(8, 0), time(9, 0)))


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2035, 12, 31),
        timezones=st.just(UTC),
    ),
    phone=st.sampled_from([NEW_YORK, LOS_ANGELES, LONDON_MOBILE, ALASKA, TOLL_FREE, AUSTRALIA_MOBILE, UNKNOWN]),
    quiet=st.sampled_from([Q, QuietHours(time(9, 0), time(20, 0)), QuietHours(fallback_tz="Pacific/Auckland")]),
)
def test_next_send_time_properties(now: datetime, phone: str, quiet: QuietHours) -> None:
    if phone == TOLL_FREE and quiet.end.hour - quiet.start.hour < 13:
        # Guam to Pago Pago: only the 13-hour default window leaves a (1.5-hour) overlap all year.
        quiet = Q
    result = next_send_time(phone, now, quiet)
    assert result.tzinfo is UTC
    assert now <= result <= now + timedelta(hours=48)
    assert is_sendable(phone, result, quiet)
    assert (result == now) == is_sendable(phone, now, quiet)
    if result > now:
        # Earliest: not sendable just before, nor anywhere on a 15-minute grid since `now`.
        assert not is_sendable(phone, result - timedelta(seconds=1), quiet)
        probe = now
        while probe < result:
            assert not is_sendable(phone, probe, quiet)
            probe += timedelta(minutes=15)


def test_wave_policy_sends_toll_free_numbers_in_the_fallback_zone() -> None:
    # A narrow window: the ~40 zones of a toll-free number never share an hour of it.
    quiet = QuietHours(time(8, 0), time(9, 0), fallback_tz="America/New_York")
    now = utc(2026, 11, 20, 5, 0)  # 00:00 in New York
    with pytest.raises(NoCommonWindowError):
        next_send_time(TOLL_FREE, now, quiet)
    # Not dropped, not sent at night: 08:00 New York time (EST = UTC-5).
    assert wave_send_time(TOLL_FREE, now, quiet) == utc(2026, 11, 20, 13, 0)
    # Numbers with a common window are untouched by the policy.
    assert wave_send_time(LOS_ANGELES, now, quiet) == next_send_time(LOS_ANGELES, now, quiet)
