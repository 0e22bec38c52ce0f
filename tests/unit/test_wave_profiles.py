"""The profile updates of a wave: contact attributes map to the platform's custom fields; the sample's reach."""

from __future__ import annotations

import pytest

from sms_response.waves.profiles import custom_field_name
from sms_response.waves.sample_gate import sample_reach


def test_custom_attributes_map_to_fields_with_underscores() -> None:
    assert custom_field_name(" loyalty tier ") == "loyalty_tier"


@pytest.mark.parametrize(("recipients", "updated", "dropped", "reach"), [
    (10, 10, 0, 1.0), (10, 7, 3, 0.7), (10, 6, 3, 0.6), (10, None, 4, 0.6), (0, 0, 0, 1.0), (5, 0, 5, 0.0),
])
def test_sample_reach_is_what_the_platform_updated_and_did_not_drop(
    recipients: int, updated: int | None, dropped: int, reach: float
) -> None:
    assert sample_reach(recipients, updated, dropped) == reach
