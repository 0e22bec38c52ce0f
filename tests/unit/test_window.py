from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sms_response.errors import WindowError
from sms_response.window import Window, resolve_run_window

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_window_id_is_stable_and_filesystem_safe() -> None:
    w = Window(T0, T0 + timedelta(hours=1))
    assert w.id == "20261120T090000Z-20261120T100000Z"
    assert Window.from_iso("2026-11-20T10:00:00+01:00", "2026-11-20T11:00:00+01:00") == w


def test_window_rejects_naive_and_inverted_spans() -> None:
    with pytest.raises(WindowError, match="no time zone"):
        Window(datetime(2026, 11, 20), T0)
    with pytest.raises(WindowError, match="not after its start"):
        Window(T0, T0)
    with pytest.raises(WindowError, match="not after its start"):
        Window.from_iso("2026-11-20T10:00:00Z", "2026-11-20T09:00:00Z")
    with pytest.raises(WindowError, match="not an ISO-8601"):
        Window.from_iso("yesterday", "2026-11-20T09:00:00Z")


def test_filtered_window_has_its_own_identity_independent_of_order() -> None:
    a = Window.filtered(T0, T0 + timedelta(hours=1), ["sentSMS"], ["B", "A"])
    b = Window.filtered(T0, T0 + timedelta(hours=1), ["sentSMS"], ["A", "B"])
    assert a.id == b.id != Window(T0, T0 + timedelta(hours=1)).id
    assert Window.filtered(T0, T0 + timedelta(hours=1)).filter_key == ""


def test_conf_window_wins_over_data_interval() -> None:
    span = resolve_run_window(
        window_start="2026-11-19T00:00:00Z", window_end="2026-11-19T06:00:00Z",
        data_interval_start=T0, data_interval_end=T0 + timedelta(hours=1), run_after=None,
    )
    assert (span.start, span.end) == (datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 19, 6, tzinfo=UTC))


def test_half_a_conf_window_is_refused() -> None:
    with pytest.raises(WindowError, match="both"):
        resolve_run_window(window_start="2026-11-19T00:00:00Z", window_end=None,
                           data_interval_start=None, data_interval_end=None, run_after=T0)


def test_scheduled_run_uses_its_data_interval() -> None:
    span = resolve_run_window(window_start=None, window_end=None, data_interval_start=T0,
                              data_interval_end=T0 + timedelta(hours=1), run_after=None)
    assert (span.start, span.end) == (T0, T0 + timedelta(hours=1))


def test_run_without_interval_takes_last_complete_hour_before_run_after() -> None:
    ra = datetime(2026, 11, 20, 10, 37, 12, tzinfo=timezone(timedelta(hours=2)))
    # an empty interval (a trigger timetable) counts as none
    span = resolve_run_window(window_start=None, window_end=None, data_interval_start=ra,
                              data_interval_end=ra, run_after=ra)
    assert (span.start, span.end) == (datetime(2026, 11, 20, 7, tzinfo=UTC), datetime(2026, 11, 20, 8, tzinfo=UTC))
    with pytest.raises(WindowError, match="no data interval"):
        resolve_run_window(window_start=None, window_end=None, data_interval_start=None,
                           data_interval_end=None, run_after=None)


def test_window_value_round_trips_through_json_with_its_filters() -> None:
    import json

    w = Window.filtered(T0, T0 + timedelta(hours=1), ["sentSMS"], ["B", "A"])
    value = json.loads(json.dumps(w.to_dict()))
    assert value["window_id"] == w.id and value["mailing_names"] == ["A", "B"]
    assert Window.from_dict(value) == w and Window.from_dict(value).id == w.id


def test_window_value_whose_id_does_not_match_its_fields_is_refused() -> None:
    value = Window(T0, T0 + timedelta(hours=1)).to_dict()
    with pytest.raises(WindowError, match="does not match"):
        Window.from_dict({**value, "mailing_names": ["A"]})
    with pytest.raises(WindowError, match="not a window value"):
        Window.from_dict({"window_start": value["window_start"]})
