"""The flowchart_triggers table on real PostgreSQL: rows written, claimed exactly once, started, recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from trigger_fixtures import MAILING, T0, Db, connections, race, rows

from sms_response.trigger.request import TriggerRequest, confs_for
from sms_response.trigger.store import (
    claim_pending,
    claimed_by,
    pending_count,
    record_outcome,
    record_start_failed,
    record_started,
    started_triggers,
    write_trigger_row,
)

pytestmark = pytest.mark.integration


def test_a_written_row_is_claimed_once_with_the_confs_of_its_runs(db: Db) -> None:
    req = TriggerRequest(mailing_names=(MAILING,), window_start=T0, window_end=T0 + timedelta(hours=3),
                         wave_conf={"campaign_code": "SPRING26", "segment": "responders"})
    tid = write_trigger_row(db, req, "flowchart SPRING26")
    assert pending_count(db) == 1

    [claimed] = claim_pending(db, "run-a")
    assert claimed.trigger_id == tid and claimed.request == req and claimed.requested_by == "flowchart SPRING26"
    assert claim_pending(db, "run-b") == []
    assert pending_count(db) == 0
    assert [c.trigger_id for c in claimed_by(db, "run-a")] == [tid] and claimed_by(db, "run-b") == []
    assert [(c.dag_id, c.run_id) for c in confs_for(claimed)] == [
        ("sms_response_tracking", f"flowchart__{tid}"), ("sms_campaign_wave", f"flowchart__{tid}")]


def test_started_then_outcomes_move_the_status(db: Db) -> None:
    ids = [write_trigger_row(db, TriggerRequest(mailing_names=(MAILING,)), "t") for _ in range(3)]
    claim_pending(db, "run-a")
    assert record_started(db, ids[0], {"sms_response_tracking": f"flowchart__{ids[0]}"})
    assert record_started(db, ids[1], {"sms_response_tracking": f"flowchart__{ids[1]}"},
                          not_started=["sms_campaign_wave"])
    assert record_start_failed(db, ids[2], "no run could be started (sms_response_tracking)")
    assert [t for t, _ in started_triggers(db)] == ids[:2]

    assert record_outcome(db, ids[0], {"sms_response_tracking": "success"}) == "succeeded"
    assert record_outcome(db, ids[1], {"sms_response_tracking": "success"}) == "failed"  # the wave never started
    assert record_outcome(db, ids[0], {"sms_response_tracking": "failed"}) is None  # recorded once
    assert started_triggers(db) == []
    with db.transaction():
        got = db.execute("SELECT status, dag_run_ids, run_states, message FROM flowchart_triggers "
                         "ORDER BY trigger_id").fetchall()
    assert got[0] == ("succeeded", {"sms_response_tracking": f"flowchart__{ids[0]}"},
                      {"sms_response_tracking": "success"}, None)
    assert got[1][0] == "failed" and got[1][2] == {"sms_campaign_wave": "not_started",
                                                   "sms_response_tracking": "success"}
    assert got[2][0] == "failed" and "no run could be started" in got[2][3]


@pytest.fixture
def two_conns(pg_url: str, schema: str) -> Iterator[list[Db]]:
    with connections(pg_url, schema, 2) as conns:
        yield conns


def test_two_claimers_racing_over_200_rows_claim_each_exactly_once(db: Db, two_conns: list[Db]) -> None:
    with db.transaction(), db.cursor() as cur:
        cur.executemany("INSERT INTO flowchart_triggers (mailing_names) VALUES (%s)", [([MAILING],)] * 200)
    with db.transaction():
        all_ids = [r[0] for r in db.execute("SELECT trigger_id FROM flowchart_triggers").fetchall()]

    def claim_all(i: int) -> list[int]:
        got: list[int] = []
        while batch := claim_pending(two_conns[i], f"claimer-{i}", limit=7):
            got += [t.trigger_id for t in batch]
        return got

    a, b = race(2, claim_all)

    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(all_ids) and len(a) + len(b) == 200
    with db.transaction():
        owners = dict(db.execute("SELECT trigger_id, claimed_by FROM flowchart_triggers").fetchall())
    assert all(owners[t] == "claimer-0" for t in a) and all(owners[t] == "claimer-1" for t in b)
    assert pending_count(db) == 0
    print(f"claims: {len(a)} by claimer-0, {len(b)} by claimer-1")


def test_a_row_written_by_hand_with_a_bad_name_is_rejected_at_claim(db: Db) -> None:
    with db.transaction():
        db.execute("INSERT INTO flowchart_triggers (mailing_names) VALUES (%s), (%s)",
                   (["x'; DROP TABLE mailings;--"], [MAILING]))
    claimed = claim_pending(db, "run-a")
    assert [c.request.mailing_names for c in claimed] == [(MAILING,)]
    bad = rows(db)[0]
    assert bad[3] == "rejected" and "DROP TABLE mailings" in bad[10]


def test_a_stale_claim_is_taken_over(db: Db) -> None:
    tid = write_trigger_row(db, TriggerRequest(mailing_names=(MAILING,)), "t")
    claim_pending(db, "dead-run")
    assert claim_pending(db, "next-run") == []
    with db.transaction():
        db.execute("UPDATE flowchart_triggers SET claimed_at = now() - interval '2 hours'")
    [again] = claim_pending(db, "next-run", reclaim_after=timedelta(hours=1))
    assert again.trigger_id == tid
    assert rows(db)[0][10] == "reclaimed from dead-run"


def test_database_refuses_rows_that_make_no_sense(db: Db) -> None:
    for values in ("run_tracking => false", "window_start => now()", "run_wave => true"):
        col, val = values.split(" => ")
        with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
            db.execute(f"INSERT INTO flowchart_triggers ({col}) VALUES ({val})")
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        db.execute("INSERT INTO flowchart_triggers (window_start, window_end) VALUES (now(), now() - interval '1 h')")
