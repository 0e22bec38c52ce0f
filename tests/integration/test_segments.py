"""Responder / non-responder segments on real PostgreSQL, against hand-computed fixtures.

Data arrives the way production data does: envelopes landed per window and imported with
``import_window``; a window is published by setting its ``load_log`` status (the publish step).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from event_fixtures import attrs, land_and_import, publish
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response.segments import (
    SegmentRefreshError,
    SegmentRunResult,
    current_runs,
    mailings_with_published_data,
    prune_segment_runs,
    refresh_segments,
)
from sms_response.window import Window

pytestmark = pytest.mark.integration
Conn = psycopg.Connection[TupleRow]
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
S = T0 + timedelta(minutes=1)  # the usual send time
MIN, H = timedelta(minutes=1), timedelta(hours=1)
M1, M2 = "SPRING26_Wave1_20261120", "SPRING26_Wave2_20261120"
W1 = Window(T0, T0 + 96 * H)  # every event of the base fixture (timestamps up to S + 72h + 1m)
W2 = Window(T0 + 96 * H, T0 + 97 * H)  # a later window: a late click and a new send


def p(n: int) -> str:
    return f"+120155501{n:02d}"


def sent(eid: str, n: int, ts: datetime, mailing: str = M1, status: str = "delivered", code: int = 0) -> dict[str, Any]:
    return {"channel": "SMS",
            "identifiers": [{"name": "phoneNumber", "value": p(n)}, {"name": "contactId", "value": f"c{n}"}],
            "events": [{"code": "sentSMS", "timestamp": ts.isoformat(), "attributes": attrs(
                eventId=eid, mailingName=mailing, deliveryStatus=status, statusCode=code, campaignCode="SPRING26")}]}


def inter(eid: str, n: int, ts: datetime, itype: str, mailing: str = M1, **extra: Any) -> dict[str, Any]:
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": p(n)}],
            "events": [{"code": "interactedSMS", "timestamp": ts.isoformat(), "attributes": attrs(
                eventId=eid, mailingName=mailing, interactionType=itype, **extra)}]}


def click(eid: str, n: int, ts: datetime, mailing: str = M1) -> dict[str, Any]:
    return inter(eid, n, ts, "click", mailing, url="https://shop.example/a", linkToken=f"tk{eid}")


def reply(eid: str, n: int, ts: datetime, body: str) -> dict[str, Any]:
    return inter(eid, n, ts, "reply", messageBody=body)


def base_events() -> list[dict[str, Any]]:
    return [
        # p01: a click 10 minutes after the send: responder
        sent("s01", 1, S), click("i01", 1, S + 10 * MIN),
        # p02: STOP then START replies, nothing else: STOP is an opt-out, not a response
        sent("s02", 2, S), reply("i02a", 2, S + 5 * MIN, "STOP"), reply("i02b", 2, S + 20 * MIN, "START"),
        # p03: a click while opted out (STOP before, START after): not a response
        sent("s03", 3, S), reply("i03a", 3, S + 5 * MIN, "STOP"), click("i03b", 3, S + 10 * MIN),
        reply("i03c", 3, S + 20 * MIN, "START"),
        # p04: the same, plus a click after opting back in: responder from that click
        sent("s04", 4, S), reply("i04a", 4, S + 5 * MIN, "stop"), click("i04b", 4, S + 10 * MIN),
        reply("i04c", 4, S + 20 * MIN, "START"), click("i04d", 4, S + 30 * MIN),
        # p05: sent both mailings, clicked only the second one's link
        sent("s05a", 5, S), sent("s05b", 5, S, M2), click("i05", 5, S + 10 * MIN, M2),
        # p06: first send undelivered, second delivered 30 min later; the click came before it
        sent("s06a", 6, S, status="undelivered", code=30003), sent("s06b", 6, S + 30 * MIN),
        click("i06", 6, S + 20 * MIN),
        # p07: two delivered sends; the click is in the second's window only: timing uses the first
        sent("s07a", 7, S), sent("s07b", 7, S + 48 * H), click("i07", 7, S + 72 * H + MIN),
        # p08: click exactly 72 h after the send (window is [sent_at, sent_at + 72h)): not a response
        sent("s08", 8, S), click("i08", 8, S + 72 * H),
        # p09: click a minute before the window closes: responder
        sent("s09", 9, S), click("i09", 9, S + 72 * H - MIN),
        # p10: hard failure on another mailing: in neither segment although it clicked
        sent("s10a", 10, S), sent("s10b", 10, S, M2, status="failed", code=30005), click("i10", 10, S + 10 * MIN),
        # p11: clicked, then opted out: currently opted out, in neither segment
        sent("s11", 11, S), click("i11a", 11, S + 10 * MIN), inter("i11b", 11, S + 60 * MIN, "opt_out", keyword="STOP"),
        # p12: several kinds of responses; the earliest counts as first_response_at
        sent("s12", 12, S), inter("i12a", 12, S + 5 * MIN, "action", actionName="BUY"),
        inter("i12b", 12, S + 6 * MIN, "action", actionName="ADD_TO_CART"),
        inter("i12c", 12, S + 7 * MIN, "action", actionName="BUY"), click("i12d", 12, S + 8 * MIN),
        inter("i12e", 12, S + 9 * MIN, "conversion", value="19.90"), reply("i12f", 12, S + 10 * MIN, "yes please"),
        # p13: never delivered: in neither segment
        sent("s13", 13, S, status="undelivered", code=30003), click("i13", 13, S + 10 * MIN),
        # p14: delivered, no response in W1 (its click arrives late, in W2)
        sent("s14", 14, S),
    ]


def later_events() -> list[dict[str, Any]]:
    return [
        click("i14", 14, S + 2 * H),  # late: timestamped long before W2 opened
        sent("s15", 15, W2.start + 10 * MIN),  # a new send in W2
    ]


def view(db: Conn, name: str, mailing: str) -> dict[str, tuple[Any, ...]]:
    if name == "responders":
        q = ("SELECT phone_e164, contact_id, sent_at, first_response_at, response_types, action_names "
             "FROM responders WHERE mailing_name = %s")
    else:
        q = "SELECT phone_e164, contact_id, sent_at FROM non_responders WHERE mailing_name = %s"
    rows = db.execute(q, (mailing,)).fetchall()
    db.commit()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def phones(*ns: int) -> set[str]:
    return {p(n) for n in ns}


@pytest.fixture
def base(db: Conn, schema: str, tmp_path: Path) -> str:
    load_id = land_and_import(db, schema, tmp_path, W1, base_events())
    publish(db, load_id)
    return load_id


def test_segments_follow_the_rules(db: Conn, base: str) -> None:
    [r1, r2] = refresh_segments(db, [M1, M2], trigger={"test": True})
    assert isinstance(r1, SegmentRunResult) and (r1.mailing_name, r2.mailing_name) == (M1, M2)

    resp = view(db, "responders", M1)
    non = view(db, "non_responders", M1)
    assert set(resp) == phones(1, 4, 9, 12)
    assert set(non) == phones(2, 3, 5, 6, 7, 8, 14)
    assert (r1.responders, r1.non_responders) == (4, 7)
    # neither: hard failure elsewhere (10), currently opted out (11), never delivered (13)
    assert not (set(resp) | set(non)) & phones(10, 11, 13)

    assert resp[p(1)] == ("c1", S, S + 10 * MIN, ["click"], [])
    assert resp[p(4)][2] == S + 30 * MIN  # the click while opted out does not count
    assert resp[p(9)][2:4] == (S + 72 * H - MIN, ["click"])
    assert resp[p(12)] == ("c12", S, S + 5 * MIN, ["action", "click", "conversion", "reply"], ["ADD_TO_CART", "BUY"])
    assert non[p(6)] == ("c6", S + 30 * MIN)  # the first *delivered* send
    assert non[p(7)] == ("c7", S)  # timing from the first delivered send, not the second

    assert set(view(db, "responders", M2)) == phones(5)
    assert view(db, "non_responders", M2) == {}  # p10 hard-failed
    assert (r2.responders, r2.non_responders) == (1, 0)

    runs = db.execute("SELECT mailing_name, status, responders, non_responders, response_window, trigger "
                      "FROM segment_runs ORDER BY segment_run_id").fetchall()
    assert runs == [(M1, "complete", 4, 7, 72 * H, {"test": True}), (M2, "complete", 1, 0, 72 * H, {"test": True})]


def test_response_window_is_configurable(db: Conn, base: str) -> None:
    [r] = refresh_segments(db, [M1], response_window=timedelta(hours=1))
    assert set(view(db, "responders", M1)) == phones(1, 4, 12)  # p09 clicked after 72h - 1m
    assert r.non_responders == 8
    with pytest.raises(ValueError):
        refresh_segments(db, [M1], response_window=timedelta(0))


def test_only_published_windows_count_and_a_late_event_changes_the_next_refresh(
    db: Conn, schema: str, tmp_path: Path
) -> None:
    w1 = land_and_import(db, schema, tmp_path, W1, base_events())
    assert mailings_with_published_data(db) == []
    db.commit()
    [r] = refresh_segments(db, [M1])  # W1 only imported: nothing counts yet
    assert (r.responders, r.non_responders) == (0, 0)

    publish(db, w1)
    assert mailings_with_published_data(db) == [M1, M2]
    db.commit()
    w2 = land_and_import(db, schema, tmp_path, W2, later_events())
    [before] = refresh_segments(db, [M1])
    non = view(db, "non_responders", M1)
    assert p(14) in non and p(15) not in non  # W2 is imported, not published: ignored

    for status in ("validated", "failed_validation", "failed_reconciliation"):
        db.execute("UPDATE load_log SET status = %s WHERE load_id = %s", (status, w2))
        db.commit()
        [again] = refresh_segments(db, [M1])
        assert (again.responders, again.non_responders) == (before.responders, before.non_responders), status

    publish(db, w2)
    [after] = refresh_segments(db, [M1])
    resp, non = view(db, "responders", M1), view(db, "non_responders", M1)
    assert resp[p(14)][2] == S + 2 * H  # the late click now counts
    assert non[p(15)] == ("c15", W2.start + 10 * MIN)
    assert (after.responders, after.non_responders) == (before.responders + 1, before.non_responders)


def test_each_refresh_is_a_new_run_and_the_views_show_only_the_latest_complete_one(db: Conn, base: str) -> None:
    [a] = refresh_segments(db, [M1])
    [b] = refresh_segments(db, [M1])
    assert b.segment_run_id > a.segment_run_id
    assert current_runs(db) == {M1: b.segment_run_id}
    ids = db.execute("SELECT DISTINCT segment_run_id FROM responders UNION SELECT DISTINCT segment_run_id "
                     "FROM non_responders").fetchall()
    assert ids == [(b.segment_run_id,)]
    # the older run is kept (history) with the same members
    kept = db.execute("SELECT segment_run_id, count(*) FROM segment_members GROUP BY 1 ORDER BY 1").fetchall()
    assert kept == [(a.segment_run_id, 11), (b.segment_run_id, 11)]
    db.commit()

    [c] = refresh_segments(db, [M1])
    assert prune_segment_runs(db, keep=2) == 1
    left = db.execute("SELECT segment_run_id FROM segment_runs ORDER BY 1").fetchall()
    assert left == [(b.segment_run_id,), (c.segment_run_id,)]
    assert db.execute("SELECT count(*) FROM segment_members WHERE segment_run_id = %s", (a.segment_run_id,)
                      ).fetchone() == (0,)
    db.commit()
    assert prune_segment_runs(db, keep=1) == 1
    assert current_runs(db) == {M1: c.segment_run_id}
    db.commit()
    with pytest.raises(ValueError):
        prune_segment_runs(db, keep=0)


def test_a_failed_refresh_keeps_the_previous_run_visible_and_records_a_failed_run(db: Conn, base: str) -> None:
    [ok] = refresh_segments(db, [M1])
    db.commit()
    # Make the member insert fail inside the refresh transaction.
    db.execute(sql.SQL("ALTER TABLE segment_members ADD CONSTRAINT no_new_members CHECK (segment_run_id <= {})")
               .format(sql.Literal(ok.segment_run_id)))
    db.commit()
    with pytest.raises(SegmentRefreshError, match=M1) as info:
        refresh_segments(db, [M1], trigger={"by": "test"})
    failed_id = info.value.segment_run_id
    assert failed_id is not None and failed_id > ok.segment_run_id
    assert current_runs(db) == {M1: ok.segment_run_id}
    assert len(view(db, "responders", M1)) == ok.responders
    runs = db.execute("SELECT segment_run_id, status, trigger->>'by', trigger ? 'error' FROM segment_runs "
                      "ORDER BY 1").fetchall()
    assert runs == [(ok.segment_run_id, "complete", None, False), (failed_id, "failed", "test", True)]
    assert db.execute("SELECT count(*) FROM segment_members WHERE segment_run_id > %s",
                      (ok.segment_run_id,)).fetchone() == (0,)
    db.commit()


def test_refresh_refuses_a_connection_inside_a_transaction(db: Conn, base: str) -> None:
    db.execute("SELECT 1")
    with pytest.raises(Exception, match="outside a transaction"):
        refresh_segments(db, [M1])
    db.rollback()
