"""Contacts from rows: field matching as the platform matches, and every bad row rejected with its line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sms_response.contacts.fields import map_columns, match_custom_field
from sms_response.contacts.parse import parse_contacts
from sms_response.contacts.sources import SourceError, csv_source, validate_query
from sms_response.phones import PhoneNormaliser

TODAY = date(2026, 11, 1)


def parse_file(path: Path, text: str, known: list[str] | None = None):  # type: ignore[no-untyped-def]
    path.write_text(text, encoding="utf-8")
    source = csv_source(path)
    fields, header_rejects = map_columns(source.columns, known, source.header_line)
    assert not header_rejects
    return fields, parse_contacts(source.rows, fields, PhoneNormaliser(), today=TODAY)


@pytest.mark.parametrize("column", ["Loyalty Tier", "loyalty_tier", "LOYALTY TIER", "Loyalty_Tier", " loyalty tier "])
def test_custom_column_matches_the_platform_field_case_and_space_insensitively(column: str) -> None:
    assert match_custom_field(column, ["preferred_store", "loyalty_tier"]) == "loyalty_tier"


def test_system_fields_are_recognised_by_their_usual_names() -> None:
    fields, rejects = map_columns(["Phone", "Email Address", "First Name", "last_name", "Postal Code", "Birthday"],
                                  None, 1)
    assert not rejects
    assert sorted(fields.system.values()) == ["birthdate", "email", "given_name", "phone_e164", "postal_code",
                                              "surname"]
    assert fields.custom == {}


def test_unknown_custom_field_is_refused_naming_it_when_the_platform_fields_are_known() -> None:
    _, rejects = map_columns(["phone", "Shoe Size"], ["loyalty_tier"], 1)
    assert [(r.line, "'Shoe Size'" in r.reason) for r in rejects] == [(1, True)]


def test_without_known_fields_a_custom_column_keeps_its_name_with_underscores() -> None:
    fields, rejects = map_columns(["phone", "Loyalty Tier"], None, 1)
    assert not rejects and fields.custom == {"Loyalty Tier": "Loyalty_Tier"}


def test_two_columns_feeding_one_field_and_a_missing_phone_are_refused() -> None:
    _, rejects = map_columns(["Loyalty Tier", "loyalty_tier"], None, 1)
    reasons = " / ".join(r.reason for r in rejects)
    assert "both feed" in reasons and "no phone column" in reasons


def test_rows_become_contacts_with_e164_phones_and_platform_field_names(tmp_path: Path) -> None:
    _, parsed = parse_file(tmp_path / "c.csv", "Phone,First Name,Birthday,Loyalty Tier\n"
                           "(201) 555-0100,Ann,1990-04-02,Gold\n+1 212 555 0101,Bob,,\n", ["loyalty_tier"])
    assert not parsed.rejects
    ann, bob = parsed.contacts
    assert (ann.phone_e164, ann.given_name, ann.birthdate, dict(ann.custom or {})) == (
        "+12015550100", "Ann", date(1990, 4, 2), {"loyalty_tier": "Gold"})
    assert (bob.phone_e164, bob.birthdate, dict(bob.custom or {})) == ("+12125550101", None, {})


def test_bad_rows_are_rejected_with_their_line_and_reason(tmp_path: Path) -> None:
    _, parsed = parse_file(tmp_path / "c.csv", "phone,birthday\n"
                           "+12015550100,1990-01-01\n"      # line 2: fine
                           "not a phone,\n"                  # line 3
                           "\n"                               # line 4: blank, skipped
                           "201-555-0100,\n"                 # line 5: same number as line 2
                           "+12015550102,31/12/1990\n"       # line 6
                           "+12015550103,2030-01-01\n")      # line 7: in the future
    assert [r.line for r in parsed.rejects] == [3, 5, 6, 7]
    reasons = [r.reason for r in parsed.rejects]
    assert "not" in reasons[0] and "line 2" in reasons[1] and "YYYY-MM-DD" in reasons[2] and "today" in reasons[3]
    assert [c.phone_e164 for c in parsed.contacts] == ["+12015550100"]


def test_a_quoted_multi_line_field_keeps_the_following_line_numbers_right(tmp_path: Path) -> None:
    _, parsed = parse_file(tmp_path / "c.csv", 'phone,note\n+12015550100,"two\nlines"\nbad,\n')
    assert [r.line for r in parsed.rejects] == [4]


def test_a_row_with_more_fields_than_the_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone\n+12015550100,extra\n", encoding="utf-8")
    assert [r.line for r in csv_source(path).rejects] == [2]


@pytest.mark.parametrize("query", ["SELECT 1", "with a as (select 1) select * from a;", "-- c\nSELECT 1; -- end"])
def test_a_single_select_is_a_valid_saved_query(query: str) -> None:
    assert validate_query(query, "q").lower().lstrip("- c\n").startswith(("select", "with"))


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("DELETE FROM contacts", "found DELETE"),
    ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "found INSERT"),
    ("", "found 0"),
])
def test_a_saved_query_that_is_not_one_select_is_refused(query: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        validate_query(query, "q")
