"""Pure parts of a campaign wave: names, keys, request validation, per-recipient rendering."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from sms_response.campaign import (
    WaveError,
    WaveSpec,
    custom_field_name,
    idempotency_key,
    render_message,
    sanitise_name,
    wave_mailing_name,
)
from sms_response.waves import AudienceMember

MEMBER = AudienceMember("+12125550100", "c1", "ada@x.example", "Ada", "Lovelace", "10001", date(1990, 1, 2),
                        {"loyalty tier": "gold"})


def spec(**kw: object) -> WaveSpec:
    base: dict[str, object] = dict(campaign_code="C", wave_name="W", source_mailing="M", segment="responders",
                                   variants={"A": "hi"})
    base.update(kw)
    return WaveSpec(**base)  # type: ignore[arg-type]


def test_names_are_sanitised_like_the_campaign_tool() -> None:
    assert sanitise_name("Last Chance! — 50%") == "Last_Chance_50"
    stamp = datetime(2026, 11, 23, 7, 5, 9, tzinfo=UTC)
    assert wave_mailing_name("SPRING-26", "Process box 3", stamp) == "SPRING_26_Process_box_3_20261123070509"
    with pytest.raises(WaveError, match="letters or digits"):
        wave_mailing_name("!!!", "W", stamp)
    with pytest.raises(WaveError, match="timezone-aware"):
        wave_mailing_name("C", "W", datetime(2026, 11, 23))


def test_idempotency_keys_are_stable_and_distinct() -> None:
    assert idempotency_key("M", "+1") == idempotency_key("M", "+1")
    keys = {idempotency_key(m, p) for m in ("M1", "M2") for p in ("+1", "+2")}
    assert len(keys) == 4 and all(len(k) == 32 for k in keys)


@pytest.mark.parametrize(("kw", "message"), [
    ({"segment": "everyone"}, "segment must be one of"),
    ({"variants": {}}, "needs a message template"),
    ({"variants": {"A b": "x"}}, "variant name"),
    ({"sample_size": 0}, "sample_size"),
    ({"sample_threshold": 1.5}, "sample_threshold"),
    ({"batch_size": 5000}, "batch_size"),
    ({"quiet_start": "22:00", "quiet_end": "06:00"}, "quiet hours"),
    ({"quiet_fallback_tz": "Mars/Olympus"}, "quiet hours"),
])
def test_a_bad_wave_request_is_refused_with_its_reason(kw: dict[str, object], message: str) -> None:
    with pytest.raises(WaveError, match=message):
        spec(**kw)


def test_every_link_gets_its_own_short_link_and_fields_are_filled() -> None:
    tokens = (f"tok{i:09d}" for i in itertools.count())
    msg = render_message("Hi {given_name} ({custom_loyalty_tier}): https://a.example/x and https://b.example/y.",
                         MEMBER, "https://t.example/r/", token=lambda: next(tokens))
    assert msg.body == "Hi Ada (gold): https://t.example/r/tok000000000 and https://t.example/r/tok000000001."
    assert msg.links == [(0, "tok000000000", "https://a.example/x"), (1, "tok000000001", "https://b.example/y")]
    assert msg.parts == 1 and msg.warning is None


def test_a_long_short_link_domain_that_adds_a_part_is_warned_about() -> None:
    template = "x" * 140 + " https://a.b/c"
    msg = render_message(template, MEMBER, "https://a-very-long-tracking-domain.example/r", token=lambda: "t" * 12)
    assert msg.parts == 2 and msg.warning is not None and "2 parts instead of 1" in msg.warning


def test_custom_attributes_map_to_fields_with_underscores() -> None:
    assert custom_field_name(" loyalty tier ") == "loyalty_tier"
