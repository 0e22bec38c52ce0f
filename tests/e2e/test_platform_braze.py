"""dag.test() end to end on Braze Currents: the simulator's campaign as Currents Avro files in a loopback S3
(moto), downloaded by the braze adapter, imported, segmented and measured; every table, segment and figure
equal to the simulator's truth of its Braze rendering (``sms_simulator.braze_truth``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response.report import fingerprint, reconciliation

# Adapter-specific: the importer's behaviour on both servers is covered by the other suites.
pytestmark = [pytest.mark.e2e, pytest.mark.once]
START = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
H = timedelta(hours=1)
REST = {"window_start": "2026-11-20T13:00:00Z", "window_end": "2026-11-24T00:00:00Z"}
FIGURES = ("sent", "delivered", "delivered_recipients", "credits", "clicks", "unique_clickers", "responders",
           "repliers", "opt_outs", "converters", "conversion_value")


@pytest.fixture
def braze(simulator: Any, task_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from sms_simulator import braze

    with braze.start(simulator, tmp_path / "braze") as conn:
        monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(conn))
        yield braze.export(simulator.state)


def run(dag: Any, end: datetime | None = None, conf: dict[str, Any] | None = None) -> Any:
    dr = dag.test(logical_date=end, run_conf=conf)
    assert str(dr.state) in ("success", "DagRunState.SUCCESS"), f"run for {end} {conf} ended {dr.state}"
    return dr


def table_rows(db: psycopg.Connection[TupleRow]) -> dict[str, set[tuple[Any, ...]]]:
    sent = db.execute("SELECT event_id, phone_e164, mailing_name, extract(epoch FROM sent_at)::bigint, "
                      "delivery_status, status_code, campaign_code FROM sms_sent").fetchall()
    inter = db.execute("SELECT event_id, phone_e164, mailing_name, extract(epoch FROM interacted_at)::bigint, "
                       "interaction_type, url, link_token, reply_text, suspected_bot_click FROM sms_interactions"
                       ).fetchall()
    return {"sms_sent": set(sent), "sms_interactions": set(inter)}


def expected(export: Any, until: datetime | None) -> dict[str, set[tuple[Any, ...]]]:
    rows = export.expected_rows(until)
    return {
        "sms_sent": {(r["event_id"], r["phone"], r["mailing"], r["at_s"], r["status"], r["status_code"],
                      r["campaign_code"]) for r in rows["sms_sent"]},
        "sms_interactions": {(r["event_id"], r["phone"], r["mailing"], r["at_s"], r["type"], r["url"],
                              r["link_token"], r["reply_text"], r["bot"]) for r in rows["sms_interactions"]},
    }


def test_braze_currents_windows_segments_and_metrics_equal_the_truth(
    dagbag: Any, braze: Any, db: psycopg.Connection[TupleRow], simulator: Any
) -> None:
    from sms_simulator.braze_truth import metrics
    from sms_simulator.metrics_query import MetricsQuery

    dag = dagbag.dags["sms_response_tracking"]
    ends = [START + k * H for k in (1, 2, 3, 4)]
    for end in ends:
        run(dag, end)
    recon = {r.load_id: r for r in reconciliation(db)}
    for end in ends:
        r = recon[f"{(end - H):%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"]
        truth = braze.window_truth(end - H, end)
        assert r.status == "published" and r.reconciles
        assert (r.downloaded, r.imported, r.duplicates, r.rejected) == (
            truth["records"], truth["imported"], truth["duplicates"], truth["rejected"]), r.load_id
    written = [w for w in braze.written if w.hour_us < int(ends[-1].timestamp()) * 1_000_000]
    assert any(w.role == "redelivered" for w in written) and any(w.role == "duplicate" for w in written)
    assert any(w.role == "malformed" for w in written) and any(w.role == "bot" for w in written)
    assert any(w.record.get("external_user_id") is None for w in written)  # nullable fields, null
    assert table_rows(db) == expected(braze, ends[-1])

    # A rerun of a window changes no row.
    before = fingerprint(db)
    run(dag, ends[1])
    assert fingerprint(db) == before

    # The rest of the campaign in one window; then segments and metrics against the truth.
    run(dag, START + 100 * H, REST)
    assert table_rows(db) == expected(braze, None)
    rest = braze.window_truth(datetime.fromisoformat(REST["window_start"]),
                              datetime.fromisoformat(REST["window_end"]))
    [r] = [r for r in reconciliation(db) if r.load_id.startswith("20261120T130000Z")]
    assert (r.downloaded, r.imported, r.rejected) == (rest["records"], rest["imported"], rest["rejected"])
    assert db.execute("SELECT count(*) FROM sms_interactions WHERE suspected_bot_click").fetchone() == (
        sum(w.role == "bot" for w in braze.written),)
    db.commit()

    segments = braze.segments()
    run(dagbag.dags["sms_segments_refresh"], conf={"mailing_names": sorted(segments)})
    for name, (responders, non_responders) in segments.items():
        got_r = {p for (p,) in db.execute("SELECT phone_e164 FROM responders WHERE mailing_name = %s", (name,))}
        got_n = {p for (p,) in db.execute("SELECT phone_e164 FROM non_responders WHERE mailing_name = %s",
                                          (name,))}
        assert got_r == set(responders) and len(responders) > 0, name
        assert got_n == set(non_responders), name
    db.commit()

    run(dagbag.dags["sms_campaign_metrics"], conf={"mailing_names": [], "full_rebuild": True})
    truth = metrics(simulator.state, braze.world, MetricsQuery())["mailings"]
    names = ", ".join(FIGURES)
    for name in segments:
        row = db.execute(f"SELECT {names} FROM report_mailings WHERE mailing_name = %s", (name,)).fetchone()
        assert row is not None, name
        got = {k: Decimal(str(v)) for k, v in zip(FIGURES, row, strict=True)}
        assert got == {k: Decimal(str(truth[name][k])) for k in FIGURES}, name
