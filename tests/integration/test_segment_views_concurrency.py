"""Readers of the segment views see a whole run, the previous one or the new one, never a mix.

A reader thread on its own connection counts the views while the main thread refreshes a mailing
with a few thousand members several times (and the data grows between refreshes, so every run
has a different size).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response.db import connect
from sms_response.load import ensure_partitions
from sms_response.segments import refresh_segments

pytestmark = pytest.mark.integration
Conn = psycopg.Connection[TupleRow]
MAILING = "BULK_Wave1_20261120"
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
INITIAL, STEP, REFRESHES = 3000, 300, 5
MAX_OBSERVATIONS, DEADLINE_S = 5000, 20.0

OBSERVE = """
SELECT (SELECT count(*) FROM responders WHERE mailing_name = %(m)s),
       (SELECT count(DISTINCT segment_run_id) FROM responders WHERE mailing_name = %(m)s),
       (SELECT count(*) FROM non_responders WHERE mailing_name = %(m)s),
       (SELECT count(DISTINCT segment_run_id) FROM non_responders WHERE mailing_name = %(m)s),
       (SELECT count(DISTINCT segment_run_id) FROM (
            SELECT segment_run_id FROM responders WHERE mailing_name = %(m)s
            UNION ALL SELECT segment_run_id FROM non_responders WHERE mailing_name = %(m)s) u),
       (SELECT min(segment_run_id) FROM (
            SELECT segment_run_id FROM responders WHERE mailing_name = %(m)s
            UNION ALL SELECT segment_run_id FROM non_responders WHERE mailing_name = %(m)s) u)
"""


def add_rows(db: Conn, first: int, last: int) -> None:
    """Published sends for phones first..last; every third phone clicks a minute after its send."""
    db.execute(
        "INSERT INTO sms_sent (event_id, mailing_name, phone_e164, sent_at, delivery_status, status_code, load_id) "
        "SELECT 'bs' || g, %(m)s, '+1202' || lpad(g::text, 7, '0'), %(t)s + g * interval '1 second', "
        "'delivered', 0, 'bulk' FROM generate_series(%(a)s::int, %(b)s::int) g",
        {"m": MAILING, "t": T0, "a": first, "b": last},
    )
    db.execute(
        "INSERT INTO sms_interactions (event_id, mailing_name, phone_e164, interacted_at, interaction_type, load_id) "
        "SELECT 'bi' || g, %(m)s, '+1202' || lpad(g::text, 7, '0'), %(t)s + g * interval '1 second' "
        "+ interval '1 minute', 'click', 'bulk' FROM generate_series(%(a)s::int, %(b)s::int) g WHERE g %% 3 = 0",
        {"m": MAILING, "t": T0, "a": first, "b": last},
    )
    db.commit()


def test_readers_see_one_complete_run_at_a_time(pg_url: str, schema: str, db: Conn) -> None:
    ensure_partitions(db, "sms_sent", [T0])
    ensure_partitions(db, "sms_interactions", [T0])
    db.execute("INSERT INTO load_log (load_id, window_start, window_end, status) "
               "VALUES ('bulk', %s, %s + interval '1 hour', 'published')", (T0, T0))
    db.commit()
    add_rows(db, 1, INITIAL)
    refresh_segments(db, [MAILING])  # the views show a run before the reader starts

    started, done = threading.Event(), threading.Event()
    observations: list[tuple[int, ...]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with connect(pg_url, schema, autocommit=True) as conn:
                deadline = time.monotonic() + DEADLINE_S
                while len(observations) < MAX_OBSERVATIONS and time.monotonic() < deadline:
                    finished = done.is_set()  # read before the query: one more look after the last switch
                    row = conn.execute(OBSERVE, {"m": MAILING}).fetchone()
                    assert row is not None
                    observations.append(tuple(int(x) for x in row))
                    started.set()
                    if finished:
                        break
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=reader, name="segment-view-reader")
    thread.start()
    try:
        assert started.wait(DEADLINE_S), "reader did not start"
        seconds: list[float] = []
        for i in range(REFRESHES):
            add_rows(db, INITIAL + i * STEP + 1, INITIAL + (i + 1) * STEP)
            [result] = refresh_segments(db, [MAILING])
            seconds.append(result.seconds)
    finally:
        done.set()
        thread.join(DEADLINE_S + 5)
    assert not thread.is_alive()
    assert not errors, errors

    runs = {
        int(r[0]): (int(r[1]), int(r[2]))
        for r in db.execute("SELECT segment_run_id, responders, non_responders FROM segment_runs "
                            "WHERE mailing_name = %s AND status = 'complete'", (MAILING,)).fetchall()
    }
    db.commit()
    assert len(runs) == REFRESHES + 1
    assert len({sum(v) for v in runs.values()}) == REFRESHES + 1  # every run has its own size
    totals = {sum(v) for v in runs.values()}
    for resp, resp_runs, non, non_runs, all_runs, run_id in observations:
        assert (resp_runs, non_runs, all_runs) == (1, 1, 1), (resp, resp_runs, non, non_runs, all_runs)
        assert resp + non in totals
        assert (resp, non) == runs[run_id]
    seen = {o[5] for o in observations}
    assert len(seen) >= 2, "the reader should see the first and the last run at least"
    final = INITIAL + REFRESHES * STEP
    assert runs[max(runs)] == (final // 3, final - final // 3)
    print(f"\n{len(observations)} observations of {len(seen)} runs; refresh of {final} members: "
          f"{min(seconds):.3f}-{max(seconds):.3f} s")
