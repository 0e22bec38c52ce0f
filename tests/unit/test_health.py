"""Pipeline health as the dashboard reads it: a stored validation outcome, as shown."""

from __future__ import annotations

from sms_response.health import expectation_result


def test_a_stored_outcome_reads_back_with_any_url_password_masked() -> None:
    item = {"suite": "sms_sent", "expectation": "expect_column_values_to_not_be_null", "column": "phone_e164",
            "severity": "critical", "success": False, "unexpected_count": 3, "element_count": 100,
            "samples": ["+12*******99", "connection to postgresql://etl:S3cret@db.internal:5432/rt failed"]}
    result = expectation_result(item)
    assert (result.suite, result.column, result.success, result.unexpected_count, result.element_count) == (
        "sms_sent", "phone_e164", False, 3, 100)
    assert result.samples == ["+12*******99", "connection to postgresql://etl:***@db.internal:5432/rt failed"]


def test_a_window_level_outcome_has_no_column_and_may_lack_counts() -> None:
    result = expectation_result({"suite": "window", "expectation": "expect_column_values_to_be_between",
                                 "column": None, "severity": "warning", "success": True})
    assert result.column is None and result.unexpected_count is None and result.samples == []
