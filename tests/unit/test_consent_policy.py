"""The consent record a send relies on, the two policies, and consent lists parsed with their line numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sms_response.consent.policy import ConsentRecord, allows, decide, deciding_record
from sms_response.consent.records import parse_consent_list, parse_opt_status_export
from sms_response.phones import PhoneNormaliser

T0 = datetime(2026, 11, 1, tzinfo=UTC)
PHONE = "+12015550100"


def rec(status: str, minutes: int, source: str = "consent_list", ref: str = "r") -> ConsentRecord:
    return ConsentRecord(PHONE, status, source, ref, T0 + timedelta(minutes=minutes))  # type: ignore[arg-type]


def test_the_latest_record_at_or_before_the_time_decides() -> None:
    history = [rec("opted_in", 0, "platform_export"), rec("opted_out", 10, "keyword"), rec("opted_in", 20)]
    assert decide("opt_in_required", history, T0 + timedelta(minutes=5)).record == history[0]
    assert decide("opt_in_required", history, T0 + timedelta(minutes=10)).allowed is False
    assert decide("not_opted_out", history, T0 + timedelta(minutes=15)).allowed is False
    late = decide("opt_in_required", history, T0 + timedelta(minutes=20))
    assert late.allowed and late.record == history[2]


def test_without_any_record_only_not_opted_out_allows() -> None:
    assert decide("opt_in_required", [], T0) .allowed is False
    assert decide("not_opted_out", [], T0).allowed is True
    assert decide("opt_in_required", [rec("opted_in", 1)], T0).record is None  # the future does not count


def test_an_opt_out_at_the_same_instant_as_an_opt_in_wins() -> None:
    history = [rec("opted_in", 0, "platform_export"), rec("opted_out", 0, "consent_list")]
    assert deciding_record(history, T0) == history[1]
    assert deciding_record(list(reversed(history)), T0) == history[1]


records = st.builds(
    rec, st.sampled_from(["opted_in", "opted_out"]), st.integers(0, 30),
    st.sampled_from(["platform_export", "keyword", "consent_list"]), st.sampled_from(["a", "b"]))


@given(st.lists(records, max_size=12), st.integers(-1, 31))
def test_no_policy_lets_a_send_rely_on_anything_but_the_latest_record(history: list[ConsentRecord],
                                                                         minute: int) -> None:
    at = T0 + timedelta(minutes=minute)
    past = [r for r in history if r.recorded_at <= at]
    latest_time = max((r.recorded_at for r in past), default=None)
    latest_statuses = {r.status for r in past if r.recorded_at == latest_time}
    if decide("opt_in_required", history, at).allowed:
        assert latest_statuses == {"opted_in"}
    if decide("not_opted_out", history, at).allowed:
        assert "opted_out" not in latest_statuses
    if latest_statuses == {"opted_in"}:
        assert decide("opt_in_required", history, at).allowed and decide("not_opted_out", history, at).allowed


def test_allows_reads_the_policy() -> None:
    assert allows("opt_in_required", rec("opted_in", 0)) and not allows("opt_in_required", None)
    assert allows("not_opted_out", None) and not allows("not_opted_out", rec("opted_out", 0))


def test_a_consent_list_is_parsed_and_each_bad_row_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "consent.csv"
    path.write_text("Phone,Status,Timestamp,ref\n"
                    "(201) 555-0100,opted_in,2026-10-01T12:00:00-04:00,web form\n"   # 2
                    "+12015550101,OPT_OUT,2026-10-02T00:00:00Z,\n"                  # 3
                    "nope,opted_in,2026-10-01T12:00:00+00:00,\n"                    # 4: phone
                    "+12015550102,maybe,2026-10-01T12:00:00+00:00,\n"               # 5: status
                    "+12015550102,opted_in,2026-10-01T12:00:00,\n"                  # 6: no offset
                    "201-555-0100,opted_out,2026-10-01T16:00:00+00:00,\n",          # 7: same instant as 2
                    encoding="utf-8")
    parsed = parse_consent_list(path, PhoneNormaliser())
    assert [r.line for r in parsed.rejects] == [4, 5, 6, 7]
    assert "no UTC offset" in parsed.rejects[2].reason and "line 2" in parsed.rejects[3].reason
    first, second = parsed.records
    assert (first.phone_e164, first.status, first.source_ref, first.recorded_at) == (
        "+12015550100", "opted_in", "web form", datetime(2026, 10, 1, 16, tzinfo=UTC))
    assert (second.status, second.source_ref) == ("opted_out", "consent.csv:3")


def test_a_consent_list_without_a_timestamp_column_is_refused_on_its_header(tmp_path: Path) -> None:
    path = tmp_path / "consent.csv"
    path.write_text("phone,status\n+12015550100,opted_in\n", encoding="utf-8")
    (reject,) = parse_consent_list(path, PhoneNormaliser()).rejects
    assert reject.line == 1 and "timestamp" in reject.reason


def test_the_export_gives_a_record_per_dated_opt_in_and_opt_out() -> None:
    parsed = parse_opt_status_export([
        {"phone": "+12015550100", "contact_id": "c1", "status": "opted_out",
         "opted_in_at": "2026-01-01T00:00:00+00:00", "opted_out_at": "2026-11-20T10:00:00+00:00"},
        {"phone": "+12015550101", "contact_id": "c2", "status": "never_opted_in", "opted_in_at": None,
         "opted_out_at": None},
        {"phone": "bad", "contact_id": "c3", "status": "opted_in", "opted_in_at": "2026-01-01T00:00:00+00:00"},
    ], PhoneNormaliser())
    assert [(r.status, r.source) for r in parsed.records] == [("opted_in", "platform_export"),
                                                             ("opted_out", "platform_export")]
    assert [r.line for r in parsed.rejects] == [3]
