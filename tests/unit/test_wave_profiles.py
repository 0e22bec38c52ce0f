"""The profile update before a wave: contact attributes map to the platform's custom fields."""

from __future__ import annotations

from sms_response.waves.profiles import custom_field_name


def test_custom_attributes_map_to_fields_with_underscores() -> None:
    assert custom_field_name(" loyalty tier ") == "loyalty_tier"
