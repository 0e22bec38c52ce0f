"""Run conf of sms_response_tracking: every refusal names the problem; a good conf comes back typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from sms_response import events
from sms_response.run_conf import (
    CONF_KEYS,
    DATETIME_PATTERN,
    EVENT_CODES,
    PARAMS_SCHEMA,
    ConfError,
    RunConf,
    validate_conf,
)
from sms_response.window import Window

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
H = timedelta(hours=1)
GOOD = {"window_start": "2026-11-20T09:00:00Z", "window_end": "2026-11-20T10:00:00+00:00"}


def refused(conf: object) -> str:
    with pytest.raises(ConfError) as info:
        validate_conf(conf)  # type: ignore[arg-type]
    return str(info.value)


def test_empty_or_missing_conf_means_the_data_interval() -> None:
    assert validate_conf(None) == validate_conf({}) == RunConf()
    defaults = {"window_start": None, "window_end": None, "event_codes": [], "mailing_names": []}
    assert validate_conf(defaults) == RunConf()


def test_good_conf_comes_back_typed_in_utc() -> None:
    rc = validate_conf({
        "window_start": "2026-11-20T10:00:00+01:00", "window_end": "2026-11-20T10:00Z",
        "event_codes": ["sentSMS"], "mailing_names": ["SPRING26_Wave1_Offer_20261120090000", "legacy.name-2"],
    })
    assert (rc.window_start, rc.window_end) == (T0, T0 + H)
    assert rc.event_codes == ("sentSMS",)
    assert rc.as_dict()["window_start"] == "2026-11-20T09:00:00+00:00"


def test_unknown_keys_are_refused_by_name() -> None:
    msg = refused({**GOOD, "windowStart": "x", "dry_run": True})
    assert "unknown key(s) 'dry_run', 'windowStart'" in msg
    assert "allowed: " + ", ".join(CONF_KEYS) in msg


@pytest.mark.parametrize("end", ["2026-11-20T09:00:00Z", "2026-11-20T08:00:00Z", "2026-11-20T10:00:00+02:00"])
def test_window_end_not_after_start_is_refused(end: str) -> None:
    assert "is not after window_start" in refused({"window_start": "2026-11-20T09:00:00Z", "window_end": end})


@pytest.mark.parametrize("key", ["window_start", "window_end"])
def test_only_one_end_of_the_window_is_refused(key: str) -> None:
    msg = refused({key: "2026-11-20T09:00:00Z"})
    assert f"{key} is given without" in msg and "give both" in msg


@pytest.mark.parametrize(
    "value",
    ["2026-11-20T09:00:00", "2026-11-20", "yesterday", "20/11/2026 09:00 +00:00", "2026-11-20T09:00:00 UTC",
     "2026-13-20T09:00:00Z", "2026-11-20T24:00:00Z", " 2026-11-20T09:00:00Z"],
)
def test_naive_or_non_iso_timestamps_are_refused(value: str) -> None:
    msg = refused({"window_start": value, "window_end": "2026-11-21T09:00:00Z"})
    assert "window_start" in msg and ("not an ISO-8601" in msg or "not a valid" in msg)


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"window_start": 1732093200, "window_end": "2026-11-20T10:00:00Z"}, "window_start must be an ISO-8601 string"),
        ({"event_codes": "sentSMS"}, "event_codes must be a list of strings, got str"),
        ({"mailing_names": [1, None]}, "mailing_names must hold strings only"),
        ({"mailing_names": {"a": 1}}, "mailing_names must be a list"),
    ],
)
def test_wrong_types_are_refused(conf: dict[str, object], expected: str) -> None:
    assert expected in refused(conf)


@pytest.mark.parametrize(
    "name",
    ["x'; DROP TABLE mailings;--", "a b", "-starts-with-hyphen", ".hidden", "", "x" * 129, "mailing/../../etc",
     "naïve", "name\n"],
)
def test_mailing_names_outside_the_pattern_are_refused(name: str) -> None:
    msg = refused({"mailing_names": ["SPRING26_Wave1", name]})
    assert "do not match" in msg and "SPRING26_Wave1'" not in msg.split("do not match")[0]


def test_unknown_and_repeated_event_codes_are_refused() -> None:
    assert "unknown event code(s) 'clickedSMS'; known: sentSMS, interactedSMS" in refused(
        {"event_codes": ["sentSMS", "clickedSMS"]})
    assert "more than once" in refused({"event_codes": ["sentSMS", "sentSMS"]})


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfError) as info:
        validate_conf({"foo": 1, "window_start": "2026-11-20T09:00:00", "mailing_names": ["a;b"]})
    assert len(info.value.problems) == 4  # unknown key, naive start, start without end, bad name
    assert str(info.value).startswith("run conf refused (4 problem(s)); nothing was downloaded or written")


def test_long_values_are_truncated_in_messages() -> None:
    msg = refused({"mailing_names": ["'" + "x" * 5000]})
    assert len(msg) < 600


def test_conf_window_wins_else_the_data_interval_with_filters_in_its_identity() -> None:
    rc = validate_conf({**GOOD, "event_codes": ["sentSMS"]})
    w = rc.window(data_interval_start=T0 + 5 * H, data_interval_end=T0 + 6 * H, run_after=None)
    assert (w.start, w.end) == (T0, T0 + H) and w.filter_key
    w = RunConf().window(data_interval_start=T0 + 5 * H, data_interval_end=T0 + 6 * H, run_after=None)
    assert w == Window(T0 + 5 * H, T0 + 6 * H)
    w = RunConf().window(data_interval_start=None, data_interval_end=None, run_after=T0 + 2 * H + timedelta(minutes=7))
    assert w == Window(T0 + H, T0 + 2 * H)


def test_event_codes_match_the_importer() -> None:
    assert EVENT_CODES == events.EVENT_CODES


@pytest.mark.parametrize(
    "conf",
    [
        {"window_start": 5},
        {"window_start": "2026-11-20T09:00:00"},
        {"event_codes": ["clickedSMS"]},
        {"event_codes": "sentSMS"},
        {"mailing_names": ["x'; DROP TABLE mailings;--"]},
        {"mailing_names": ["a", "a"]},
    ],
)
def test_params_schema_refuses_what_validate_conf_refuses(conf: dict[str, object]) -> None:
    """The Params' JSON schema (checked by Airflow at trigger time) agrees with validate_conf."""
    with pytest.raises(ConfError):
        validate_conf(conf)
    [(key, value)] = conf.items()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, PARAMS_SCHEMA[key], format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize(
    "value", ["2026-11-20T09:00:00Z", "2026-11-20T09:00Z", "2026-11-20T09:00:00.123+01:00", "2026-11-20 09:00:00-05:00"]
)
def test_params_schema_and_validate_conf_accept_the_same_timestamps(value: str) -> None:
    jsonschema.validate(value, PARAMS_SCHEMA["window_start"], format_checker=jsonschema.FormatChecker())
    assert re.match(DATETIME_PATTERN, value)
    validate_conf({"window_start": value, "window_end": "2026-11-30T00:00:00Z"})


def test_a_mailing_name_starting_with_a_separator_is_refused() -> None:
    assert "do not match" in refused({**GOOD, "mailing_names": ["_legacy"]})
