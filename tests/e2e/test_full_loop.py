"""End to end on the simulator's seeded campaign: download → import → validate → publish → segments refresh,
with segment members equal to what the simulator's behaviour model produced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

pytestmark = pytest.mark.e2e


def test_segments_from_the_published_campaign_match_the_behaviour_model(
    dagbag: Any, task_env: Path, db: psycopg.Connection[TupleRow], simulator: Any
) -> None:
    # One triggered window that covers the whole seeded campaign (sends, responses, late events).
    conf = {"window_start": "2026-11-20T08:00:00Z", "window_end": "2026-11-24T00:00:00Z"}
    dr = dagbag.dags["sms_response_tracking"].test(run_conf=conf)
    assert "success" in str(dr.state).lower()
    assert db.execute("SELECT status FROM load_log").fetchall() == [("published",)]

    dr = dagbag.dags["sms_segments_refresh"].test(run_conf={})
    assert "success" in str(dr.state).lower()

    truth = {m["name"]: m for m in simulator.state.truth_all()["mailings"]}
    assert truth
    for name, t in truth.items():
        responders = {r[0] for r in db.execute(
            "SELECT phone_e164 FROM responders WHERE mailing_name = %s", (name,)).fetchall()}
        non_responders = {r[0] for r in db.execute(
            "SELECT phone_e164 FROM non_responders WHERE mailing_name = %s", (name,)).fetchall()}
        assert responders == set(t["responder_phones"]), name
        assert non_responders == set(t["non_responder_phones"]), name
        assert len(responders) == t["responders"] > 0
        assert not responders & non_responders
