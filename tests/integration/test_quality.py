"""Each expectation fails on a crafted batch, and the failure names it; states gate publishing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response.load import ensure_partitions, month_bounds
from sms_response.publish import WindowStateError, publish_window, record_validation
from sms_response.quality import QualityConfig, ValidationReport, summary, validate_window
from sms_response.window import Window

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
W = Window(T0, T0 + timedelta(hours=1))
GOOD_MAILING = "SPRING26_Wave1_20261120090000"


def seed_window(db: psycopg.Connection[TupleRow], *, sent: list[dict[str, Any]], interactions: list[dict[str, Any]],
                downloaded: int | None = None, rejected: int = 0) -> None:
    """A crafted batch: rows written straight into the tables, as a broken mapping or platform change would."""
    ensure_partitions(db, "sms_sent", [month_bounds(T0)[0], month_bounds(T0 - timedelta(days=40))[0]])
    ensure_partitions(db, "sms_interactions", [month_bounds(T0)[0]])
    for i, r in enumerate(sent):
        row = {"event_id": f"s{i}", "mailing_name": GOOD_MAILING, "phone_e164": f"+1201555{i:04d}",
               "sent_at": T0 + timedelta(minutes=1), "delivery_status": "delivered", **r}
        db.execute("INSERT INTO sms_sent (event_id, mailing_name, phone_e164, sent_at, delivery_status, load_id) "
                   "VALUES (%(event_id)s, %(mailing_name)s, %(phone_e164)s, %(sent_at)s, %(delivery_status)s, %(l)s)",
                   {**row, "l": W.id})
    for i, r in enumerate(interactions):
        row = {"event_id": f"i{i}", "mailing_name": GOOD_MAILING, "phone_e164": f"+1201555{i:04d}",
               "interacted_at": T0 + timedelta(minutes=5), "interaction_type": "click", **r}
        db.execute("INSERT INTO sms_interactions (event_id, mailing_name, phone_e164, interacted_at, interaction_type,"
                   " load_id) VALUES (%(event_id)s, %(mailing_name)s, %(phone_e164)s, %(interacted_at)s,"
                   " %(interaction_type)s, %(l)s)", {**row, "l": W.id})
    n = len(sent) + len(interactions)
    db.execute("INSERT INTO load_log (load_id, window_start, window_end, status, downloaded, imported, duplicates, "
               "rejected) VALUES (%s, %s, %s, 'imported', %s, %s, 0, %s)",
               (W.id, W.start, W.end, downloaded if downloaded is not None else n + rejected, n, rejected))
    db.commit()


def run(pg_url: str, schema: str, tmp_path: Path | None = None) -> ValidationReport:
    cfg = QualityConfig(data_docs_dir=tmp_path)
    return validate_window(pg_url, schema, W, cfg)


def failed(report: ValidationReport) -> set[tuple[str, str, str | None, str]]:
    return {(o.suite, o.expectation, o.column, o.severity) for o in report.outcomes if not o.success}


GOOD_SENT = [{}, {}, {}]
GOOD_INT = [{}]


def test_clean_window_passes_and_builds_data_docs(db: psycopg.Connection[TupleRow], pg_url: str, schema: str,
                                                  tmp_path: Path) -> None:
    seed_window(db, sent=GOOD_SENT, interactions=GOOD_INT)
    report = run(pg_url, schema, tmp_path)
    assert report.success and not report.warnings, summary(report)
    assert len(report.outcomes) == 24  # 10 + 10 per event table, 4 per window
    pages = list(tmp_path.rglob("*.html"))
    assert (tmp_path / "index.html").exists() and len(pages) >= 2
    assert record_validation(db, report, "r1") == "validated"
    extra = publish_window(db, W.id)
    assert extra["mailings"] == [GOOD_MAILING] and extra["counts"]["sent"] == 0  # counts come from load_log


@pytest.mark.parametrize(
    ("sent", "interactions", "expected"),
    [
        ([{"phone_e164": "2015550100"}], [], ("sms_sent", "expect_column_values_to_match_regex", "phone_e164", "critical")),
        ([{"delivery_status": "exploded"}], [], ("sms_sent", "expect_column_values_to_be_in_set", "delivery_status", "critical")),
        ([{"event_id": "dup"}, {"event_id": "dup", "sent_at": T0 + timedelta(minutes=2)}], [],
         ("sms_sent", "expect_column_values_to_be_unique", "event_id", "critical")),
        ([{"sent_at": T0 - timedelta(days=40)}], [], ("sms_sent", "expect_column_values_to_be_between", "sent_at", "warning")),
        ([{"mailing_name": "adhoc blast"}], [], ("sms_sent", "expect_column_values_to_match_regex", "mailing_name", "warning")),
        ([{}], [{"interaction_type": "opt_out", "phone_e164": "+44"}],
         ("sms_interactions", "expect_column_values_to_match_regex", "phone_e164", "critical")),
        ([{}], [{"event_id": "x"}, {"event_id": "x", "interacted_at": T0 + timedelta(minutes=9)}],
         ("sms_interactions", "expect_column_values_to_be_unique", "event_id", "critical")),
        ([{}], [{"interacted_at": T0 + timedelta(hours=3)}],
         ("sms_interactions", "expect_column_values_to_be_between", "interacted_at", "warning")),
        ([{}], [{"mailing_name": "x y"}], ("sms_interactions", "expect_column_values_to_match_regex", "mailing_name", "warning")),
        ([{}], [{}] * 6, ("window", "expect_column_values_to_be_between", "interactions_per_send", "warning")),
    ],
)
def test_each_expectation_fails_on_its_crafted_batch(
    db: psycopg.Connection[TupleRow], pg_url: str, schema: str, sent: list[dict[str, Any]],
    interactions: list[dict[str, Any]], expected: tuple[str, str, str, str],
) -> None:
    interactions = [{"event_id": f"i{i}", **r} for i, r in enumerate(interactions)]
    seed_window(db, sent=sent, interactions=interactions)
    report = run(pg_url, schema)
    assert expected in failed(report), summary(report)
    text = summary(report)
    assert expected[1] in text and f"{expected[0]}.{expected[2]}" in text
    assert report.success == (expected[3] == "warning")


@pytest.mark.parametrize(
    ("table", "column"),
    [("sms_sent", c) for c in ("event_id", "mailing_name", "phone_e164", "sent_at", "delivery_status")]
    + [("sms_interactions", c) for c in ("event_id", "mailing_name", "phone_e164", "interacted_at", "interaction_type")],
)
def test_not_null_expectations_fail_on_a_batch_with_nulls(
    db: psycopg.Connection[TupleRow], pg_url: str, schema: str, table: str, column: str
) -> None:
    """The tables forbid these NULLs, so the crafted batch is an unconstrained copy validated in their place
    (the same path validates staged rows before a load)."""
    seed_window(db, sent=GOOD_SENT, interactions=GOOD_INT)
    db.execute(sql.SQL("CREATE TABLE crafted AS SELECT * FROM {} WITH NO DATA").format(sql.Identifier(table)))
    db.execute(sql.SQL("INSERT INTO crafted SELECT * FROM {}").format(sql.Identifier(table)))
    db.execute(sql.SQL("UPDATE crafted SET {} = NULL WHERE event_id = (SELECT min(event_id) FROM crafted)").format(
        sql.Identifier(column)))
    db.commit()
    report = validate_window(pg_url, schema, W, QualityConfig(), relations={table: "crafted"})
    assert (table, "expect_column_values_to_not_be_null", column, "critical") in failed(report), summary(report)
    assert not report.success and f"{table}.{column}" in summary(report)


def test_high_reject_rate_is_critical_and_blocks_publishing(
    db: psycopg.Connection[TupleRow], pg_url: str, schema: str
) -> None:
    seed_window(db, sent=GOOD_SENT, interactions=GOOD_INT, rejected=10)
    report = run(pg_url, schema)
    assert ("window", "expect_column_values_to_be_between", "reject_rate", "critical") in failed(report)
    assert record_validation(db, report, "r1") == "failed_validation"
    with pytest.raises(WindowStateError, match="not validated"):
        publish_window(db, W.id)
    msg = db.execute("SELECT message FROM load_log").fetchone()
    assert msg is not None and "reject_rate" in msg[0]


@pytest.mark.scenario("re-deliveries", "conflicting re-deliveries are a warning of the quality gate, and block "
                                       "publishing past SMS_RT_MAX_CONFLICT_RATE")
@pytest.mark.parametrize(("conflicts", "expected"), [
    (1, {("window", "expect_column_values_to_be_between", "conflicts", "warning")}),
    (3, {("window", "expect_column_values_to_be_between", "conflicts", "warning"),
         ("window", "expect_column_values_to_be_between", "conflict_rate", "critical")}),
    (0, set()),
])
def test_conflicting_redeliveries_warn_and_past_the_threshold_block(
    db: psycopg.Connection[TupleRow], pg_url: str, schema: str, conflicts: int,
    expected: set[tuple[str, str, str | None, str]],
) -> None:
    seed_window(db, sent=GOOD_SENT * 10, interactions=GOOD_INT)  # 31 records: 3 conflicts are 9.7 % (> 5 %)
    db.execute("UPDATE load_log SET conflicts = %s, duplicates = %s", (conflicts, conflicts))
    db.execute("UPDATE load_log SET downloaded = downloaded + duplicates")
    db.commit()
    report = run(pg_url, schema)
    assert failed(report) == expected
    assert report.success == (not any(f[3] == "critical" for f in expected))


@pytest.mark.scenario("channels", "a window of mostly e-mail events passes the reject-rate check: skipped "
                                  "records are not in its denominator")
def test_skipped_records_do_not_count_in_the_reject_rate(
    db: psycopg.Connection[TupleRow], pg_url: str, schema: str,
) -> None:
    # 4 SMS records, none rejected, 96 e-mail records skipped; then 1 reject among the SMS records is 20 %.
    seed_window(db, sent=GOOD_SENT, interactions=GOOD_INT)
    db.execute("UPDATE load_log SET skipped = 96, downloaded = downloaded + 96, "
               "skipped_by_channel = '{\"EMAIL\": 96}'")
    db.commit()
    assert run(pg_url, schema).success
    db.execute("UPDATE load_log SET rejected = 1, downloaded = downloaded + 1")
    db.commit()
    assert ("window", "expect_column_values_to_be_between", "reject_rate", "critical") in failed(run(pg_url, schema))


def test_phone_samples_are_masked_in_the_summary(db: psycopg.Connection[TupleRow], pg_url: str, schema: str) -> None:
    seed_window(db, sent=[{"phone_e164": "2015550199"}], interactions=[])
    text = summary(run(pg_url, schema))
    assert "2015550199" not in text and "201*****99" in text
