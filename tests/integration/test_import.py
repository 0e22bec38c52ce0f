"""Import into real PostgreSQL: reconciliation, idempotent reruns, duplicates, consent, partitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response import migrate
from sms_response.errors import MappingError
from sms_response.landing import LandingWriter
from sms_response.load import import_window
from sms_response.mapping import load_mapping, parse_mapping
from sms_response.report import fingerprint, reconciliation, table_counts
from sms_response.window import Window

pytestmark = pytest.mark.integration
MAPPING = load_mapping()
H = timedelta(hours=1)
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
M1 = "SPRING26_Wave1_20261120090000"


def a(**kv: Any) -> list[dict[str, Any]]:
    return [{"name": k, "value": v, "type": "string"} for k, v in kv.items()]


def env(code: str, eid: str, phone: str, ts: datetime, **attrs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"eventId": eid, "mailingName": M1}
    if code == "sentSMS":
        base.update(deliveryStatus="delivered", statusCode=0, campaignCode="SPRING26")
    base.update(attrs)
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
            "events": [{"code": code, "timestamp": ts.isoformat(), "attributes": a(**base)}]}


def land(root: Path, window: Window, envelopes: list[object]) -> None:
    w = LandingWriter(root, window.id)
    for e in envelopes:
        w.write(e)
    w.commit({"window_start": window.start.isoformat(), "window_end": window.end.isoformat(), "filters": {},
              "pages": 1, "source": "test", "downloaded_at": "2026-11-20T12:00:00+00:00"})


def load(db: psycopg.Connection[TupleRow], schema: str, root: Path, window: Window) -> Any:
    return import_window(db, schema, root, window, MAPPING, default_region="US", run_id="test")


def test_window_reconciles_and_bad_records_are_quarantined_with_reasons(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path
) -> None:
    w = Window(T0, T0 + H)
    land(tmp_path, w, [
        env("sentSMS", "s1", "+12015550123", T0 + timedelta(minutes=1)),
        env("sentSMS", "s2", "(201) 555-0124", T0 + timedelta(minutes=2)),
        env("sentSMS", "s2", "(201) 555-0124", T0 + timedelta(minutes=2)),  # duplicate in window
        env("interactedSMS", "i1", "+12015550123", T0 + timedelta(minutes=5), interactionType="click",
            url="https://shop.example/a", linkToken="tk1"),
        env("sentSMS", "bad1", "12345", T0),
        "not an envelope",
        env("interactedSMS", "bad2", "+12015550123", T0, interactionType="swiped"),
    ])
    r = load(db, schema, tmp_path, w)
    assert (r.downloaded, r.imported, r.duplicates, r.rejected) == (7, 3, 1, 3)
    assert r.reconciles
    rejects = db.execute("SELECT position, reason FROM event_rejects ORDER BY position").fetchall()
    assert [p for p, _ in rejects] == ["part-00000.jsonl.gz:4:0", "part-00000.jsonl.gz:5", "part-00000.jsonl.gz:6:0"]
    assert "phone" in rejects[0][1] and "not a JSON object" in rejects[1][1] and "swiped" in rejects[2][1]
    phones = db.execute("SELECT phone_e164 FROM sms_sent ORDER BY 1").fetchall()
    assert phones == [("+12015550123",), ("+12015550124",)]
    log = reconciliation(db)
    assert [(x.load_id, x.status, x.reconciles) for x in log] == [(w.id, "imported", True)]
    assert db.execute("SELECT mailing_name, campaign_code FROM mailings").fetchall() == [(M1, "SPRING26")]


def test_rerun_of_window_changes_no_row(db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path) -> None:
    w = Window(T0, T0 + H)
    land(tmp_path, w, [env("sentSMS", f"s{i}", f"+1201555{i:04d}", T0 + timedelta(seconds=i)) for i in range(100, 160)]
         + [env("interactedSMS", "o1", "+12015550100", T0 + timedelta(minutes=9), interactionType="reply",
                messageBody="STOP")])
    load(db, schema, tmp_path, w)
    before = fingerprint(db)
    load(db, schema, tmp_path, w)
    assert fingerprint(db) == before
    assert table_counts(db)["sms_sent"] == 60
    attempts = db.execute("SELECT attempts FROM load_log").fetchone()
    assert attempts == (2,)


def test_duplicate_of_an_event_loaded_by_another_window_is_counted_not_loaded(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path
) -> None:
    w1, w2 = Window(T0, T0 + H), Window(T0 + H, T0 + 2 * H)
    land(tmp_path, w1, [env("sentSMS", "s1", "+12015550123", T0 + timedelta(minutes=1))])
    land(tmp_path, w2, [env("sentSMS", "s1", "+12015550123", T0 + timedelta(minutes=1)),
                        env("sentSMS", "s2", "+12015550124", T0 + H)])
    load(db, schema, tmp_path, w1)
    r2 = load(db, schema, tmp_path, w2)
    assert (r2.imported, r2.duplicates, r2.duplicates_in_window, r2.late) == (1, 1, 0, 0)
    assert table_counts(db)["sms_sent"] == 2
    # reloading w2 again still finds s1 owned by w1
    r2b = load(db, schema, tmp_path, w2)
    assert (r2b.imported, r2b.duplicates) == (1, 1)


@pytest.mark.parametrize("order", [(2, 1, 0), (1, 2, 0), (0, 2, 1), (2, 0, 1)])
def test_the_tables_do_not_depend_on_the_order_windows_load_in(
    db: psycopg.Connection[TupleRow], schema: str, pg_url: str, tmp_path: Path, order: tuple[int, int, int]
) -> None:
    """The platform re-delivers events in later windows; whatever order the windows load in (a failed
    window rerun after its successors, a backfill in parallel), each event belongs to the earliest window
    that holds it and every window's counts are the same."""
    from sms_response.db import connect, drop_schema

    ws = [Window(T0 + i * H, T0 + (i + 1) * H) for i in range(3)]
    sent = [env("sentSMS", f"s{i}", f"+1201555{i:04d}", T0 + timedelta(minutes=i)) for i in range(100, 110)]
    click = env("interactedSMS", "c1", "+12015550100", T0 + timedelta(minutes=30), interactionType="click",
                url="https://shop.example/a", linkToken="tk1", isLate="x")
    land(tmp_path, ws[0], sent[:6] + [click])
    land(tmp_path, ws[1], sent[4:8] + [click] + [env("sentSMS", "late1", "+12015550199", T0 - H)])  # re-deliveries
    land(tmp_path, ws[2], sent[7:] + sent[:2] + [env("sentSMS", "late1", "+12015550199", T0 - H)])

    for w in ws:  # in order: the reference
        load(db, schema, tmp_path, w)
    reference = fingerprint(db)
    counts = [(x.load_id, x.imported, x.duplicates, x.late, x.reconciles) for x in reconciliation(db)]
    assert [c[1:3] for c in counts] == [(7, 0), (3, 3), (2, 4)] and all(c[4] for c in counts)

    other = f"{schema}_o"
    migrate.upgrade(pg_url, other)
    try:
        with connect(pg_url, other) as conn:
            for i in order:
                load(conn, other, tmp_path, ws[i])
            assert fingerprint(conn) == reference
            assert [(x.load_id, x.imported, x.duplicates, x.late, x.reconciles) for x in reconciliation(conn)] == counts
            # and a rerun of any window afterwards still changes nothing
            load(conn, other, tmp_path, ws[order[0]])
            assert fingerprint(conn) == reference
    finally:
        drop_schema(pg_url, other)


def test_consent_latest_event_wins_whatever_the_load_order(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path
) -> None:
    p = "+12015550150"
    w1, w2 = Window(T0, T0 + H), Window(T0 + H, T0 + 2 * H)
    land(tmp_path, w1, [env("interactedSMS", "o1", p, T0 + timedelta(minutes=5), interactionType="opt_out",
                            keyword="STOP")])
    land(tmp_path, w2, [env("interactedSMS", "o2", p, T0 + H + timedelta(minutes=5), interactionType="reply",
                            messageBody="START")])
    load(db, schema, tmp_path, w2)
    load(db, schema, tmp_path, w1)  # an older opt-out loaded later must not win
    assert db.execute("SELECT status, event_id FROM sms_consent").fetchall() == [("opted_in", "o2")]
    load(db, schema, tmp_path, w1)
    assert db.execute("SELECT status, event_id FROM sms_consent").fetchall() == [("opted_in", "o2")]


def test_backfilled_and_late_events_get_partitions_on_demand(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path
) -> None:
    old = Window(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC))
    land(tmp_path, old, [
        env("sentSMS", "s1", "+12015550123", datetime(2025, 3, 1, 0, 30, tzinfo=UTC)),
        env("sentSMS", "s0", "+12015550123", datetime(2025, 2, 27, 23, 0, tzinfo=UTC)),  # late, previous month
    ])
    r = load(db, schema, tmp_path, old)
    assert sorted(r.partitions_created) == ["sms_sent_y2025m02", "sms_sent_y2025m03"]
    assert r.late == 1
    parts = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'sms_sent' AND p.relnamespace = %s::regnamespace "
        "ORDER BY 1", (schema,)).fetchall()
    assert parts == [("sms_sent_y2025m02",), ("sms_sent_y2025m03",)]


def test_mapping_to_a_column_the_table_lacks_fails_before_loading(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path
) -> None:
    w = Window(T0, T0 + H)
    land(tmp_path, w, [env("sentSMS", "s1", "+12015550123", T0)])
    bad = parse_mapping({"sentSMS": {"table": "sms_sent", "time_column": "sent_at", "columns": {
        "mailing_name": {"attribute": "mailingName", "required": True},
        "delivery_status": {"attribute": "deliveryStatus"},
        "store_id": {"attribute": "storeId"}}}})
    with pytest.raises(MappingError, match=r"\['store_id'\] are not in"):
        import_window(db, schema, tmp_path, w, bad)
    assert table_counts(db)["sms_sent"] == 0 and table_counts(db)["load_log"] == 0


def test_migrations_are_idempotent(pg_url: str, schema: str) -> None:
    assert migrate.upgrade(pg_url, schema) == migrate.head_revision()
    assert migrate.current_revision(pg_url, schema) == migrate.head_revision()


def test_streamed_in_chunks_the_first_occurrence_of_an_event_id_wins_and_the_window_reconciles(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging COPYs rows in chunks (here of 3), so a re-delivered event lands in a later chunk than its first
    copy; the set-based move keeps the first occurrence in file order and counts the rest as in-window
    duplicates, as when the window was held whole in memory."""
    from sms_response import staging

    monkeypatch.setattr(staging, "CHUNK_ROWS", 3)
    w = Window(T0, T0 + H)
    phones = [f"+1201555{n:04d}" for n in range(100, 108)]
    first = [env("sentSMS", f"s{i}", p, T0 + timedelta(minutes=i), messageBody=f"first {i}")
             for i, p in enumerate(phones)]
    # Re-deliveries of s1 and s6 with other content, after three chunks' worth of rows; one malformed record.
    again = [env("sentSMS", "s1", phones[1], T0 + timedelta(minutes=30), messageBody="second 1"),
             env("sentSMS", "s6", phones[6], T0 + timedelta(minutes=31), messageBody="second 6"),
             {"channel": "SMS", "events": "not a list"}]
    clicks = [env("interactedSMS", f"c{i}", p, T0 + timedelta(minutes=40 + i), interactionType="click")
              for i, p in enumerate(phones[:4])]
    land(tmp_path, w, [*first, *clicks, *again, clicks[0]])
    r = load(db, schema, tmp_path, w)
    assert r.reconciles and (r.downloaded, r.imported, r.duplicates, r.rejected) == (16, 12, 3, 1)
    assert r.duplicates_in_window == 3
    bodies = dict(db.execute("SELECT event_id, message_body FROM sms_sent").fetchall())
    assert bodies == {f"s{i}": f"first {i}" for i in range(8)}
    assert db.execute("SELECT count(*) FROM sms_interactions").fetchone() == (4,)


def test_a_window_refreshes_the_statistics_it_made_stale_and_leaves_small_changes_to_autovacuum(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path
) -> None:
    """ANALYZE follows autovacuum's default rule (50 rows + 10 % of the table): the first window's partition is
    analysed (it was never), a window adding 10 rows to 200 is not, one adding 100 is."""
    def sent(window: Window, first: int, n: int) -> None:
        land(tmp_path, window, [env("sentSMS", f"st{i}", f"+1201555{i:04d}", window.start + timedelta(seconds=i))
                                for i in range(first, first + n)])
        load(db, schema, tmp_path, window)

    def stats() -> tuple[float, int]:
        row = db.execute("SELECT c.reltuples, (SELECT count(*) FROM sms_sent_y2026m11) FROM pg_class c "
                         "WHERE c.oid = 'sms_sent_y2026m11'::regclass").fetchone()
        db.commit()  # the next import's transaction is its own
        assert row is not None
        return float(row[0]), int(row[1])

    sent(Window(T0, T0 + H), 0, 200)
    assert stats() == (200.0, 200)
    sent(Window(T0 + H, T0 + 2 * H), 200, 10)
    assert stats() == (200.0, 210)  # 10 <= 50 + 20: autovacuum's
    sent(Window(T0 + 2 * H, T0 + 3 * H), 300, 100)
    assert stats() == (310.0, 310)  # 100 > 50 + 21
