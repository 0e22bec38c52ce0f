"""The wave request: names, idempotency keys and the validation of what a wave asks for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sms_response.waves.request import WaveError, WaveSpec, idempotency_key, sanitise_name, wave_mailing_name


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
