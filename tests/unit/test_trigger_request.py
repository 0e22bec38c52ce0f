"""Flowchart trigger requests: what is refused, with a message that names the value; what a request starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sms_response.run_conf import validate_conf
from sms_response.trigger.request import ClaimedTrigger, InvalidTrigger, TriggerRequest, confs_for

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "x'; DROP TABLE mailings;--",
        "SPRING26 Wave1",  # space
        "a\nb",
        "",
        "-starts-with-dash",
        "_starts_with_underscore",
        "x" * 129,
        "名前",
        "a;b",
        "$(rm -rf /)",
    ],
)
def test_injection_looking_or_malformed_mailing_name_is_refused_by_name(name: str) -> None:
    with pytest.raises(InvalidTrigger) as err:
        TriggerRequest(mailing_names=(name,))
    assert "mailing name" in str(err.value)
    assert repr(name)[:40].rstrip(".") in str(err.value)


def test_the_drop_table_attempt_is_quoted_in_the_message() -> None:
    with pytest.raises(InvalidTrigger, match=r"mailing name \"x'; DROP TABLE mailings;--\" is not"):
        TriggerRequest(mailing_names=("SPRING26_Wave1_Offer_20261120090000", "x'; DROP TABLE mailings;--"))



def test_a_name_with_a_trailing_newline_is_refused_as_the_run_would_refuse_it() -> None:
    # A pattern's ``$`` also matches before a final newline: only a whole-string match refuses it.
    with pytest.raises(InvalidTrigger, match="is not a campaign mailing name"):
        TriggerRequest(mailing_names=("SPRING26_Wave1_Offer_20261120090000\n",))


def test_at_most_as_many_mailing_names_as_the_run_accepts() -> None:
    hundred = tuple(f"SPRING26_Wave1_Offer_{i:03d}" for i in range(100))
    req = TriggerRequest(mailing_names=hundred)
    [(_, _, conf)] = confs_for(ClaimedTrigger(1, "table", None, "me", req))
    assert validate_conf(conf).mailing_names == hundred  # the run it starts takes it
    with pytest.raises(InvalidTrigger, match="101 mailing names in one trigger; at most 100"):
        TriggerRequest(mailing_names=(*hundred, "SPRING26_Wave1_Offer_100"))

def test_valid_names_are_kept_in_order_without_duplicates() -> None:
    req = TriggerRequest(mailing_names=("B_2.x-1", "A_1", "B_2.x-1"))
    assert req.mailing_names == ("B_2.x-1", "A_1")


def test_window_end_before_start_is_refused() -> None:
    with pytest.raises(InvalidTrigger, match="window_end .* is not after window_start"):
        TriggerRequest(window_start=T0, window_end=T0 - timedelta(hours=1))
    with pytest.raises(InvalidTrigger, match="is not after"):
        TriggerRequest(window_start=T0, window_end=T0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidTrigger, match="has no time zone"):
        TriggerRequest(window_start=datetime(2026, 11, 20, 9), window_end=datetime(2026, 11, 20, 10))
    with pytest.raises(InvalidTrigger, match="window_start '2026-11-20T09:00:00' has no time zone"):
        TriggerRequest.from_dict({"window_start": "2026-11-20T09:00:00", "window_end": "2026-11-20T10:00:00Z"})


def test_half_a_window_is_refused() -> None:
    with pytest.raises(InvalidTrigger, match="both window_start and window_end"):
        TriggerRequest(window_start=T0)


def test_nothing_to_run_is_refused() -> None:
    with pytest.raises(InvalidTrigger, match="nothing to run"):
        TriggerRequest(mailing_names=("A_1",), run_tracking=False)


@pytest.mark.parametrize("conf", [[1, 2], "campaign", 3])
def test_wave_conf_must_be_a_json_object(conf: object) -> None:
    with pytest.raises(InvalidTrigger, match="wave conf must be a JSON object"):
        TriggerRequest(wave_conf=conf)  # type: ignore[arg-type]


def test_file_form_refuses_unknown_keys_and_inconsistent_run_wave() -> None:
    with pytest.raises(InvalidTrigger, match="unknown key.*'mailing'"):
        TriggerRequest.from_dict({"mailing": ["A_1"]})
    with pytest.raises(InvalidTrigger, match="run_wave is true but there is no wave_conf"):
        TriggerRequest.from_dict({"run_wave": True})
    with pytest.raises(InvalidTrigger, match="must be a JSON object"):
        TriggerRequest.from_dict(["A_1"])


def test_times_are_normalised_to_utc_and_round_trip_through_the_file_form() -> None:
    cet = timezone(timedelta(hours=1))
    req = TriggerRequest(
        mailing_names=("A_1",), window_start=datetime(2026, 11, 20, 10, tzinfo=cet),
        window_end=datetime(2026, 11, 20, 13, tzinfo=cet), wave_conf={"campaign_code": "SPRING26"},
    )
    assert req.window_start == T0 and req.window_start.tzinfo == UTC
    assert TriggerRequest.from_dict(req.to_dict()) == req


def test_confs_for_gives_deterministic_run_ids_and_omits_what_is_not_set() -> None:
    wave = {"campaign_code": "SPRING26", "template": "Hi {first_name} {{ not jinja }}", "variants": ["a", "b"]}
    both = ClaimedTrigger(7, "table", None, "me", TriggerRequest(
        mailing_names=("A_1",), window_start=T0, window_end=T0 + timedelta(hours=3), wave_conf=wave))
    assert confs_for(both) == [
        ("sms_response_tracking", "flowchart__7", {
            "window_start": "2026-11-20T09:00:00+00:00", "window_end": "2026-11-20T12:00:00+00:00",
            "mailing_names": ["A_1"]}),
        ("sms_campaign_wave", "flowchart__7", wave),
    ]
    bare = ClaimedTrigger(8, "file", "x.json", "me", TriggerRequest())
    assert confs_for(bare) == [("sms_response_tracking", "flowchart__8", {})]
    wave_only = ClaimedTrigger(9, "table", None, "me", TriggerRequest(run_tracking=False, wave_conf=wave))
    assert [c.dag_id for c in confs_for(wave_only)] == ["sms_campaign_wave"]
