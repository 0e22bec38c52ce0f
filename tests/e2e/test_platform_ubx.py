"""dag.test() end to end on Acoustic Exchange (UBX): the sms_platform connection says ``platform: ubx`` and points
at the simulator's UBX endpoint (event files over real HTTP, a file listed twice, files listed again after their
download, both spellings of the program fields). Several windows are imported; every window reconciles with the
simulator's truth, the segments and the campaign reports equal the simulator's, and a rerun of a window changes
no row even after the server dropped every file (the ledger keeps what was fetched)."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg.rows import TupleRow

from sms_response.report import fingerprint, reconciliation
from sms_simulator import SimulatorConfig, SimulatorServer, build_state, ubx

# Adapter-specific: the importer's behaviour on both servers is covered by the other suites.
pytestmark = [pytest.mark.e2e, pytest.mark.once]
START = datetime(2026, 11, 20, 9, tzinfo=UTC)
END = datetime(2026, 11, 24, tzinfo=UTC)  # after the campaign's last late event
H = timedelta(hours=1)
PRICE_UCS2 = "1.5"  # the price of UCS-2 parts differs, as in the campaign metrics e2e
NOT_FIGURES = {"source", "refreshed_at", "response_window_hours"}
Conn = psycopg.Connection[TupleRow]


@pytest.fixture
def endpoint(
    task_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[SimulatorServer, dict[str, Any]]]:
    """The e2e campaign (as tests/conftest.py's simulator) in a simulator of its own, served as UBX event
    files; the pipeline's connection points at the endpoint."""
    cfg = SimulatorConfig(seed=11, recipients=300, mailings=2, campaign_start=START, duplicate_rate=0.02,
                          malformed_rate=0.02, late_rate=0.05, multi_event_rate=0.02)
    with (SimulatorServer(build_state(cfg), token=secrets.token_urlsafe(8)) as sim,
          ubx.start(sim, tmp_path / "ubx-endpoint") as conn):
        monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(conn))
        monkeypatch.setenv("SMS_RT_CREDITS_PER_PART_UCS2", PRICE_UCS2)
        yield sim, conn


def succeeded(dr: Any) -> None:
    assert "success" in str(dr.state).lower(), dr.state


def rows(db: Conn, query: str, **params: Any) -> list[dict[str, Any]]:
    cur = db.execute(query, params)
    names = [d.name for d in cur.description or ()]
    out = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    db.commit()
    return out


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
    got_by = {tuple(r[k] for k in key): r for r in got_rows}
    want_by = {tuple(r[k] for k in key): r for r in want_rows}
    out = [f"{what} {k}: only in the tables" for k in got_by.keys() - want_by.keys()]
    out += [f"{what} {k}: only in the truth" for k in want_by.keys() - got_by.keys()]
    for k in sorted(got_by.keys() & want_by.keys(), key=str):
        got, want = got_by[k], want_by[k]
        out += [f"{what} {k} {c}: {got[c]!r} != truth {want.get(c, '(none)')!r}" for c in got
                if c not in NOT_FIGURES and not same(got[c], want.get(c))]
    return out


def test_ubx_windows_segments_and_reports_equal_the_truth_and_a_rerun_changes_nothing(
    dagbag: Any, db: Conn, endpoint: tuple[SimulatorServer, dict[str, Any]]
) -> None:
    sim, conn = endpoint
    ubx_url = f"http://{conn['host']}:{conn['port']}"
    tracking = dagbag.dags["sms_response_tracking"]
    ends = [START + H, START + 2 * H, START + 3 * H]
    for end in ends:  # scheduled hourly windows: the data interval [end - 1h, end)
        succeeded(tracking.test(logical_date=end))
    # the rest of the campaign in one triggered window
    succeeded(tracking.test(run_conf={"window_start": ends[-1].isoformat(), "window_end": END.isoformat()}))

    spans = [(e - H, e) for e in ends] + [(ends[-1], END)]
    recon = reconciliation(db)
    db.commit()
    assert [r.load_id for r in recon] == [f"{a:%Y%m%dT%H%M%SZ}-{b:%Y%m%dT%H%M%SZ}" for a, b in spans]
    for r, (start, end) in zip(recon, spans, strict=True):
        truth = sim.state.truth(start, end)
        assert r.status == "published" and r.reconciles, r
        assert (r.downloaded, r.imported, r.duplicates, r.rejected, r.late) == (
            truth["records"], truth["valid_events"], truth["duplicates"], truth["malformed"], truth["late_events"]), r

    # Both spellings of the program fields arrived (programId / smsProgramId …) and landed as one.
    campaign = sim.state.campaign
    assert campaign is not None
    assert rows(db, "SELECT DISTINCT program_id, program FROM sms_sent") == [
        {"program_id": campaign.program_id, "program": campaign.program_name}]
    [spelled] = rows(db, "SELECT count(*) AS n, count(*) FILTER (WHERE attributes->>'programId' = %(p)s "
                         "AND NOT attributes ?| array['smsProgramId', 'smsProgramName', 'campaignName']) AS ok "
                         "FROM sms_interactions", p=campaign.program_id)
    assert spelled["n"] == spelled["ok"] > 0

    # The endpoint's quirks happened: names listed twice, and files listed again after their download.
    key = {"Authorization": f"Bearer {conn['password']}"}
    listing = requests.get(f"{ubx_url}/v1/eventfiles", params={"limit": 5000}, headers=key, timeout=30).json()
    names = [f["fileName"] for f in listing["eventFiles"]]
    stats = requests.get(f"{ubx_url}/sim/ubx/stats", timeout=10).json()
    assert len(names) > 1.5 * len(set(names)) and set(stats["downloads"].values()) == {1}

    mailings = [m["name"] for m in sim.state.truth_all()["mailings"]]
    succeeded(dagbag.dags["sms_segments_refresh"].test(run_conf={"mailing_names": mailings}))
    for m in sim.state.truth_all()["mailings"]:
        responders = {r["phone_e164"] for r in rows(db, "SELECT phone_e164 FROM responders WHERE mailing_name = %(m)s",
                                                    m=m["name"])}
        non_responders = {r["phone_e164"] for r in rows(
            db, "SELECT phone_e164 FROM non_responders WHERE mailing_name = %(m)s", m=m["name"])}
        assert responders == set(m["responder_phones"]) and len(responders) > 0, m["name"]
        assert non_responders == set(m["non_responder_phones"]), m["name"]

    succeeded(dagbag.dags["sms_campaign_metrics"].test(run_conf={"full_rebuild": True}))
    truth = requests.get(f"{sim.base_url}/sim/truth/metrics", params={"until": END.isoformat(),
                                                                     "price_ucs2": PRICE_UCS2}, timeout=30).json()
    problems = differences("mailing", rows(db, "SELECT * FROM report_mailings"),
                           [{k: v for k, v in m.items() if not isinstance(v, list)}
                            for m in truth["mailings"].values()], ("mailing_name",))
    problems += differences("campaign", rows(db, "SELECT * FROM report_campaigns"),
                            list(truth["campaigns"].values()), ("campaign_code",))
    for name, m in truth["mailings"].items():
        problems += differences(f"{name} link", rows(db, "SELECT * FROM report_links WHERE mailing_name = %(m)s",
                                                     m=name), [{"mailing_name": name, **r} for r in m["links"]],
                                ("link_index", "target_url"))
        problems += differences(f"{name} action", rows(db, "SELECT * FROM report_actions WHERE mailing_name = %(m)s",
                                                       m=name), [{"mailing_name": name, **r} for r in m["actions"]],
                                ("action_name",))
    assert problems == []  # parts and credits included: UBX publishes no parts, the adapter counts them

    # The server drops every file; a rerun of a window is served by the ledger and changes no row.
    before = fingerprint(db)
    db.commit()
    assert requests.post(f"{ubx_url}/sim/ubx/expire", json={}, timeout=10).json()["expired"] == stats["files"]
    # (the window in the conf: dag.test(run_conf=…) left the last conf in the DAG object's params)
    succeeded(tracking.test(run_conf={"window_start": ends[0].isoformat(), "window_end": ends[1].isoformat()}))
    assert fingerprint(db) == before
    attempts = dict(db.execute("SELECT load_id, attempts FROM load_log").fetchall())
    db.commit()
    assert attempts[f"{ends[0]:%Y%m%dT%H%M%SZ}-{ends[1]:%Y%m%dT%H%M%SZ}"] == 2
    assert requests.get(f"{ubx_url}/sim/ubx/stats", timeout=10).json()["downloads"] == stats["downloads"]

