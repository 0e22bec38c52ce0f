"""Which tables a window's import analyses: autovacuum's default rule over the rows it wrote."""

from __future__ import annotations

from sms_response.load import tables_to_analyze


def test_never_analysed_tables_that_were_written_are_analysed_and_unwritten_ones_are_not() -> None:
    assert tables_to_analyze({"p1": 3, "p2": 0, "p3": 1}, {"p1": -1.0, "p2": -1.0}) == ["p1", "p3"]


def test_written_rows_past_fifty_plus_a_tenth_of_the_table_make_it_stale() -> None:
    changes = {"small_change": 149, "big_change": 151, "empty": 51, "empty_few": 50}
    reltuples = {"small_change": 1000.0, "big_change": 1000.0, "empty": 0.0, "empty_few": 0.0}
    assert tables_to_analyze(changes, reltuples) == ["big_change", "empty"]
