"""Twilio Event Streams end to end: the seeded campaign pushed as signed CloudEvents to the real receiver (a
subprocess on loopback), imported window by window by ``dag.test()`` through the Twilio adapter; the tables,
segments and reports must equal the simulator's truth of what it pushed, and a rerun must change nothing.

The push carries the published quirks: out-of-order and re-delivered events (at-least-once), ``errorCode``
as a string in some payloads, ``rawDlrDoneDate`` without a time zone, events without the CloudEvent
``time``, carrier receipts an hour late (statuses of one message straddle windows), badly signed batches
(refused, then retried) and forged ones (refused, never stored), and unusable extras (quarantined).
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_simulator import SimulatorConfig, SimulatorServer, build_state
from sms_simulator.twilio import TwilioRun, running
from sms_simulator.twilio_truth import interaction_rows, metrics, segment_truth, sent_rows, window_counts

# Adapter-specific: the importer's behaviour on both servers is covered by the other suites.
pytestmark = [pytest.mark.e2e, pytest.mark.once]
START = datetime(2026, 11, 20, 9, tzinfo=UTC)
H = timedelta(hours=1)
# Both blasts (09:00 and 11:00), receipts that straddle 10:00, and the tail of late replies and clicks.
WINDOWS = [(START - H, START + H), (START + H, START + 2 * H), (START + 2 * H, START + 4 * H),
           (START + 4 * H, START + 96 * H)]
Conn = psycopg.Connection[TupleRow]


@dataclass
class Scenario:
    db: Conn
    sim: SimulatorServer
    run: TwilioRun
    first_pass: dict[str, Any]  # fingerprint after every window once
    after_rerun: dict[str, Any]  # after the second window ran again


def succeeded(dr: Any) -> None:
    assert "success" in str(dr.state).lower(), dr.state


def track(dag: Any, start: datetime, end: datetime) -> None:
    succeeded(dag.test(run_conf={"window_start": start.isoformat(), "window_end": end.isoformat()}))


@pytest.fixture(scope="module")
def scenario(pg_url: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    from airflow.dag_processing.dagbag import DagBag

    from sms_response import migrate
    from sms_response.db import connect, drop_schema
    from sms_response.report import fingerprint

    cfg = SimulatorConfig(seed=11, recipients=300, mailings=2, campaign_start=START)
    sim = SimulatorServer(build_state(cfg), token="unused")  # only its published facts are needed: not started
    schema = f"t_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(pg_url, schema)
    work = tmp_path_factory.mktemp("twilio")
    with running(sim, work, follow_seconds=None) as run, pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(run.connection))
        env.setenv("SMS_RT_DATABASE_URL", pg_url)
        env.setenv("SMS_RT_SCHEMA", schema)
        env.setenv("SMS_RT_LANDING_DIR", str(work / "landing"))
        db = connect(pg_url, schema, autocommit=True)
        try:
            dags = DagBag(dag_folder=str(Path(__file__).parents[2] / "dags")).dags
            tracking = dags["sms_response_tracking"]
            for start, end in WINDOWS:
                track(tracking, start, end)
            first = fingerprint(db)
            track(tracking, *WINDOWS[1])
            after = fingerprint(db)
            mailings = sim.state.campaign.mailing_names() if sim.state.campaign else []
            succeeded(dags["sms_segments_refresh"].test(run_conf={"mailing_names": mailings}))
            succeeded(dags["sms_campaign_metrics"].test(run_conf={"mailing_names": [], "full_rebuild": True}))
            yield Scenario(db, sim, run, first, after)
        finally:
            db.close()
            drop_schema(pg_url, schema)


def test_every_window_reconciles_to_the_truth_of_what_was_pushed(scenario: Scenario) -> None:
    got = {r[0]: r[1:] for r in scenario.db.execute(
        "SELECT load_id, status, downloaded, imported, imported_sent, imported_interactions, duplicates, "
        "rejected, late FROM load_log ORDER BY load_id").fetchall()}
    assert len(got) == len(WINDOWS)
    for start, end in WINDOWS:
        want = window_counts(scenario.run.feed.rendering, start, end)
        row = got[f"{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"]
        assert row == ("published", want["downloaded"], want["imported"], want["imported_sent"],
                       want["imported_interactions"], want["duplicates"], want["rejected"], want["late"]), (start, end)
        assert row[1] == row[2] + row[5] + row[6]  # downloaded = imported + duplicates + rejected
    totals = [window_counts(scenario.run.feed.rendering, s, e) for s, e in WINDOWS]
    # The quirks reached the import: re-deliveries, a receipt in the window after its send, quarantines.
    assert sum(t["duplicates"] for t in totals) > 0
    assert sum(t["late"] for t in totals) > 0
    assert sum(t["rejected"] for t in totals) > 0


def utc(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in row)


def test_tables_hold_one_send_per_message_and_every_reply_and_click(scenario: Scenario) -> None:
    db, rendering = scenario.db, scenario.run.feed.rendering
    sent = db.execute("SELECT phone_e164, mailing_name, campaign_code, sent_at, delivery_status, status_code, "
                      "message_parts, message_body FROM sms_sent").fetchall()
    assert Counter(map(utc, sent)) == Counter(map(utc, sent_rows(rendering)))
    interactions = db.execute("SELECT phone_e164, mailing_name, interaction_type, interacted_at, url, reply_text, "
                              "keyword FROM sms_interactions").fetchall()
    assert Counter(map(utc, interactions)) == Counter(map(utc, interaction_rows(rendering)))
    assert {r[2] for r in interactions} == {"click", "reply", "opt_out", "opt_in"}
    rejects = db.execute("SELECT count(*) FROM event_rejects").fetchone()
    assert rejects == (sum(1 for m in rendering.messages if m.fact is None)
                       + sum(1 for i in rendering.interactions if i.fact is None),)
    # Each send keeps its status history; the carrier's done date stays as sent (no time zone, never a time).
    history, raw_dlr = db.execute(
        "SELECT attributes->'statusHistory', attributes->>'rawDlrDoneDate' FROM sms_sent "
        "WHERE delivery_status = 'delivered' ORDER BY event_id LIMIT 1").fetchone() or (None, None)
    assert [h["status"] for h in history] == ["queued", "sent", "delivered"]
    assert len(raw_dlr) == 10 and raw_dlr.isdigit()


def test_a_rerun_of_a_window_changes_no_row(scenario: Scenario) -> None:
    assert scenario.after_rerun == scenario.first_pass
    attempts = dict(scenario.db.execute("SELECT load_id, attempts FROM load_log").fetchall())
    assert attempts[f"{WINDOWS[1][0]:%Y%m%dT%H%M%SZ}-{WINDOWS[1][1]:%Y%m%dT%H%M%SZ}"] == 2


def test_segments_equal_the_behaviour_model_of_what_twilio_carried(scenario: Scenario) -> None:
    campaign = scenario.sim.state.campaign
    assert campaign is not None
    for name, (responders, non_responders) in segment_truth(campaign).items():
        got_r = {r[0] for r in scenario.db.execute(
            "SELECT phone_e164 FROM responders WHERE mailing_name = %s", (name,)).fetchall()}
        got_n = {r[0] for r in scenario.db.execute(
            "SELECT phone_e164 FROM non_responders WHERE mailing_name = %s", (name,)).fetchall()}
        assert got_r == set(responders) and responders, name
        assert got_n == set(non_responders) and non_responders, name


def rows(db: Conn, query: str, **params: Any) -> list[dict[str, Any]]:
    cur = db.execute(query, params)
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def same(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if isinstance(got, datetime):
        return got == datetime.fromisoformat(want)
    if isinstance(got, Decimal) and isinstance(want, str):
        return got == Decimal(want)
    if isinstance(got, float) or isinstance(want, float):
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-12)
    return bool(got == want)


def differences(what: str, got_rows: list[dict[str, Any]], want_rows: list[dict[str, Any]],
                key: tuple[str, ...]) -> list[str]:
    bookkeeping = {"source", "refreshed_at", "response_window_hours"}
    got_by = {tuple(r[k] for k in key): r for r in got_rows}
    want_by = {tuple(r[k] for k in key): r for r in want_rows}
    out = [f"{what} {k}: only in one of report and truth" for k in got_by.keys() ^ want_by.keys()]
    for k in sorted(got_by.keys() & want_by.keys(), key=str):
        out += [f"{what} {k} {c}: report {v!r} != truth {want_by[k].get(c, '(none)')!r}"
                for c, v in got_by[k].items() if c not in bookkeeping and not same(v, want_by[k].get(c))]
    return out


def test_reports_equal_the_metrics_truth_of_what_twilio_carried(scenario: Scenario) -> None:
    truth = metrics(scenario.run.feed.rendering)
    mailings = truth["mailings"]
    assert len(mailings) == 2 and all(m["opt_outs"] and m["clicks"] for m in mailings.values())
    problems = differences("mailing", rows(scenario.db, "SELECT * FROM report_mailings"),
                           [{k: v for k, v in m.items() if not isinstance(v, list)} for m in mailings.values()],
                           ("mailing_name",))
    problems += differences("campaign", rows(scenario.db, "SELECT * FROM report_campaigns"),
                            list(truth["campaigns"].values()), ("campaign_code",))
    for name, m in mailings.items():
        problems += differences(f"{name} link", rows(scenario.db, "SELECT * FROM report_links WHERE mailing_name = "
                                                     "%(m)s", m=name),
                                [{"mailing_name": name, **r} for r in m["links"]], ("link_index", "target_url"))
    assert problems == []


def test_the_push_carried_the_published_quirks(scenario: Scenario) -> None:
    rendering, reports = scenario.run.feed.rendering, scenario.run.feed.reports
    statuses = [e["data"] for e in rendering.events if e["type"].startswith("com.twilio.messaging.message.")]
    assert any(isinstance(d.get("errorCode"), str) for d in statuses)
    assert any(isinstance(d.get("errorCode"), int) for d in statuses)
    assert all(len(d["rawDlrDoneDate"]) == 10 for d in statuses if "rawDlrDoneDate" in d)
    assert any("time" not in e for e in rendering.events)
    assert any(n > 1 for n in rendering.deliveries.values())
    assert sum(r.refused_then_retried for r in reports) > 0 and sum(r.forged for r in reports) > 0
    # Forged events (bad signature) never reached a table.
    assert scenario.db.execute("SELECT count(*) FROM sms_sent WHERE event_id LIKE 'SM%%' AND NOT (event_id = ANY(%s))",
                               ([m.sid for m in rendering.messages],)).fetchone() == (0,)
    # Arrival was out of order: some terminal status was filed before the queued status of its message.
    files = sorted(Path(scenario.run.connection["extra"]["events_dir"]).rglob("*.jsonl"))
    seen: dict[str, str] = {}
    out_of_order = 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)["event"]["data"]
            sid, status = data.get("messageSid"), str(data.get("messageStatus", "")).lower()
            if sid and status == "queued" and seen.get(sid) in ("delivered", "failed", "undelivered"):
                out_of_order += 1
            if sid:
                seen.setdefault(sid, status)
    assert out_of_order > 0
