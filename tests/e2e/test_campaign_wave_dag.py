"""The ``sms_campaign_wave`` DAG on real Airflow, PostgreSQL and the platform simulator over loopback.

* wave 1 → its events → import → validate → publish → segments → wave 2 to wave 1's non-responders →
  events → segments of wave 2, each segment equal to what the simulator's behaviour model produced;
* the task process SIGKILLed in the middle of a batch, then the run again: everyone texted exactly once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg.rows import TupleRow
from wave_fixtures import known_phones, seed_contacts, seed_segment, sent_per_phone

from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.e2e
TOKEN = "wave-dag-token"
SOURCE = "SEED_Offer_20261120090000"
TEMPLATE = "Hi {given_name}, 20% off ends tonight: https://shop.example/sale Reply STOP to end"


@pytest.fixture
def wave_sim() -> Iterator[SimulatorServer]:
    state = build_state(SimulatorConfig(seed=33, recipients=160, mailings=1,
                                        campaign_start=datetime(2026, 11, 20, 9, tzinfo=UTC)))
    with SimulatorServer(state, token=TOKEN) as sim:
        yield sim


@pytest.fixture
def wave_env(monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str, wave_sim: SimulatorServer,
             tmp_path: Path) -> dict[str, str]:
    host, port = wave_sim.base_url.removeprefix("http://").split(":")
    env = {
        "AIRFLOW_CONN_SMS_PLATFORM": json.dumps({"conn_type": "http", "host": host, "port": int(port),
                                                 "schema": "http", "password": TOKEN}),
        "SMS_RT_DATABASE_URL": pg_url, "SMS_RT_SCHEMA": schema, "SMS_RT_LANDING_DIR": str(tmp_path / "landing"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def conf(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_code": "SPRING26", "source_mailing": SOURCE, "segment": "non_responders", "wave_name": "Reminder",
        "template": TEMPLATE, "sample_size": 5, "sample_threshold": 0.5, "sample_wait_minutes": 0,
        "batch_size": 10, "holdout_pct": 10, "quiet_hours_start": "00:00", "quiet_hours_end": "23:59",
        # The seeded opt-ins decide (wave_fixtures.seed_contacts); the export's own test is test_audiences_dag.
        "refresh_consent": False,
    }
    base.update(kw)
    return base


def seed_source(db: psycopg.Connection[TupleRow], phones: list[str]) -> None:
    db.commit()
    db.autocommit = True
    seed_segment(db, SOURCE, dict.fromkeys(phones, "non_responders"))
    seed_contacts(db, phones)


def wave_of(db: psycopg.Connection[TupleRow], logical_date: datetime) -> str:
    row = db.execute("SELECT mailing_name FROM wave_runs WHERE request_key = %s",
                     (f"sms_campaign_wave/{logical_date.isoformat()}",)).fetchone()
    assert row is not None
    return str(row[0])


def sends_of(sim: SimulatorServer, mailing: str) -> dict[str, int]:
    return sent_per_phone(sim.push.send_counts(), mailing)


def recipients(db: psycopg.Connection[TupleRow], mailing: str) -> dict[str, str]:
    return dict(db.execute("SELECT phone_e164, status FROM wave_recipients WHERE mailing_name = %s",
                           (mailing,)).fetchall())


def segment(db: psycopg.Connection[TupleRow], view: str, mailing: str) -> set[str]:
    return {r[0] for r in db.execute(f"SELECT phone_e164 FROM {view} WHERE mailing_name = %s", (mailing,)).fetchall()}


def track_and_segment(dagbag: Any, mailing: str) -> None:
    """Import the hours around now (the wave's sends and their reactions), then refresh the mailing's segments."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = {"window_start": (hour - timedelta(hours=1)).isoformat(),
              "window_end": (hour + timedelta(hours=3)).isoformat()}
    dr = dagbag.dags["sms_response_tracking"].test(run_conf=window)
    assert "success" in str(dr.state).lower()
    dr = dagbag.dags["sms_segments_refresh"].test(run_conf={"mailing_names": [mailing]})
    assert "success" in str(dr.state).lower()


def assert_segments_match_the_model(db: psycopg.Connection[TupleRow], sim: SimulatorServer, mailing: str) -> dict[
    str, Any
]:
    """Segments equal the model's, with the pipeline's rule that an opted-out phone is in neither segment."""
    truth = sim.push.wave_truth(mailing)
    opted_out = set(truth["opted_out_phones"])
    assert segment(db, "responders", mailing) == set(truth["responders"]) - opted_out
    assert segment(db, "non_responders", mailing) == set(truth["non_responders"]) - opted_out
    assert segment(db, "responders", mailing) and segment(db, "non_responders", mailing)
    return truth


# About a minute of Airflow and the simulator: the first database pass only (the wave's SQL runs on both
# servers in tests/integration).
@pytest.mark.once
def test_wave_one_then_wave_two_to_its_non_responders(
    dagbag: Any, wave_env: dict[str, str], db: psycopg.Connection[TupleRow], wave_sim: SimulatorServer
) -> None:
    phones = known_phones(wave_sim)
    seed_source(db, phones)
    wave_dag = dagbag.dags["sms_campaign_wave"]

    dr = wave_dag.test(logical_date=datetime(2026, 11, 23, 12, tzinfo=UTC), run_conf=conf())
    assert "success" in str(dr.state).lower()
    wave1 = wave_of(db, datetime(2026, 11, 23, 12, tzinfo=UTC))
    assert wave1 == "SPRING26_Reminder_20261123120000"
    state = recipients(db, wave1)
    holdout = {p for p, s in state.items() if s == "holdout"}
    assert len(holdout) == round(len(phones) * 0.10)
    not_sent = {p: s for p, s in state.items() if s not in ("sent", "holdout")}
    assert set(sends_of(wave_sim, wave1)) == {p for p, s in state.items() if s == "sent"}
    assert set(phones) - holdout - set(sends_of(wave_sim, wave1)) == set(), not_sent
    assert set(sends_of(wave_sim, wave1).values()) == {1}

    track_and_segment(dagbag, wave1)
    truth1 = assert_segments_match_the_model(db, wave_sim, wave1)
    # The behaviour model: ~30 % click (plus replies, actions) → roughly a third respond, ~4 % fail.
    assert 0.2 < len(truth1["responders"]) / truth1["delivered"] < 0.6
    assert db.execute("SELECT count(*) FROM sms_sent WHERE mailing_name = %s", (wave1,)).fetchone() == (
        truth1["sent"],)

    dagbag = type(dagbag)(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dr = dagbag.dags["sms_campaign_wave"].test(
        logical_date=datetime(2026, 11, 23, 13, tzinfo=UTC),
        run_conf=conf(source_mailing=wave1, wave_name="Last Chance", holdout_pct=0))
    assert "success" in str(dr.state).lower()
    wave2 = wave_of(db, datetime(2026, 11, 23, 13, tzinfo=UTC))
    assert wave2 == "SPRING26_Last_Chance_20261123130000"
    sent2 = sends_of(wave_sim, wave2)
    assert set(sent2) == set(truth1["non_responders"]) - {
        r[0] for r in db.execute("SELECT phone_e164 FROM sms_consent WHERE status = 'opted_out'").fetchall()}
    assert not set(sent2) & set(truth1["responders"])
    assert set(sent2.values()) == {1}

    track_and_segment(dagbag, wave2)
    truth2 = assert_segments_match_the_model(db, wave_sim, wave2)
    assert truth2["sent"] == len(sent2)
    assert len(segment(db, "responders", wave2)) + len(segment(db, "non_responders", wave2)) <= len(sent2)


def _airflow(env: dict[str, str], logical_date: str, run_conf: dict[str, Any], log: Path) -> subprocess.Popen[bytes]:
    airflow = str(Path(sys.executable).parent / "airflow")
    with log.open("ab") as out:
        return subprocess.Popen(
            [airflow, "dags", "test", "sms_campaign_wave", logical_date, "-c", json.dumps(run_conf)],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


# About a minute of Airflow and the simulator: the first database pass only (the wave's SQL runs on both
# servers in tests/integration).
@pytest.mark.once
def test_a_send_task_killed_mid_batch_resumes_without_texting_anyone_twice(
    airflow_db: None, wave_env: dict[str, str], db: psycopg.Connection[TupleRow], wave_sim: SimulatorServer,
    tmp_path: Path,
) -> None:
    phones = known_phones(wave_sim)[:60]
    seed_source(db, phones)
    run_conf = conf(holdout_pct=0)
    # The platform holds the request after 28 accepted messages: the sample (5) and two full batches of 10
    # went through, the third batch is in flight with 3 of its messages accepted.
    wave_sim.push.send_gate.arm(28)
    log = tmp_path / "airflow.log"
    proc = _airflow(wave_env, "2026-11-23T12:00:00+00:00", run_conf, log)
    try:
        assert wave_sim.push.send_gate.wait_blocked(timeout=120), log.read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        wave_sim.push.send_gate.release()
    assert proc.returncode == -signal.SIGKILL
    mailing = "SPRING26_Reminder_20261123120000"
    before = recipients(db, mailing)
    assert sum(s == "sending" for s in before.values()) == 10, (before, log.read_text()[-4000:])  # the batch in doubt
    assert sum(s == "sent" for s in before.values()) == 25
    # The platform finished the batch the dead client had sent.
    assert wave_sim.push.send_gate.wait_batches_done(timeout=30)
    assert wave_sim.push.send_counts()["total"] == 35  # sample 5 + two batches + the batch in doubt

    rerun = _airflow(wave_env, "2026-11-23T12:00:00+00:00", run_conf, log)
    assert rerun.wait(timeout=300) == 0, log.read_text()[-3000:]
    after = recipients(db, mailing)
    assert set(after.values()) == {"sent"} and set(after) == set(phones)
    counts = sends_of(wave_sim, mailing)
    assert set(counts) == set(phones) and set(counts.values()) == {1}
    # And the platform's own event stream has one sentSMS per phone.
    events = requests.get(f"{wave_sim.base_url}/sim/truth/wave", params={"mailing": mailing}, timeout=10).json()
    assert events["sent"] == len(phones)


def test_a_dry_run_reports_and_sends_nothing(
    dagbag: Any, wave_env: dict[str, str], db: psycopg.Connection[TupleRow], wave_sim: SimulatorServer
) -> None:
    from sms_response.report import fingerprint

    seed_source(db, known_phones(wave_sim)[:30])
    before = fingerprint(db)
    dr = dagbag.dags["sms_campaign_wave"].test(logical_date=datetime(2026, 11, 23, 12, tzinfo=UTC),
                                               run_conf=conf(dry_run=True))
    assert "success" in str(dr.state).lower()
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert states["plan_wave"].endswith("success")
    assert all(states[t].endswith("skipped") for t in ("update_profiles_sample", "send_sample", "sample_gate",
                                                       "update_profiles_full", "send_full"))
    assert fingerprint(db) == before
    assert wave_sim.push.send_counts()["total"] == 0


@pytest.mark.once
def test_a_sample_below_the_threshold_fails_the_run_after_the_sample(
    dagbag: Any, wave_env: dict[str, str], db: psycopg.Connection[TupleRow], wave_sim: SimulatorServer
) -> None:
    seed_source(db, known_phones(wave_sim)[:40])
    requests.post(f"{wave_sim.base_url}/sim/config", json={"wave": {"failure_rate": 1.0}},
                  timeout=10).raise_for_status()
    dr = dagbag.dags["sms_campaign_wave"].test(logical_date=datetime(2026, 11, 23, 12, tzinfo=UTC),
                                               run_conf=conf(sample_threshold=0.9))
    assert "failed" in str(dr.state).lower()
    states = {ti.task_id: (str(ti.state), ti.try_number) for ti in dr.get_task_instances()}
    assert states["sample_gate"][0].endswith("failed") and states["sample_gate"][1] == 1  # no retries burned
    assert not states["send_full"][0].endswith("success")
    assert wave_sim.push.send_counts()["total"] == 5
    row = db.execute("SELECT status, reason FROM wave_runs").fetchone()
    assert row is not None and row[0] == "sample_failed" and "below the threshold 90.0%" in row[1]


@pytest.mark.once
@pytest.mark.parametrize(("cause", "reason"), [
    ("unknown numbers", r"only \d+\.\d% of the sample could be reached, below the threshold 50\.0%"),
    ("undelivered", r"delivery rate 0\.0% \(0/5\) is below the threshold 50\.0%"),
])
def test_a_sample_that_fails_the_gate_leaves_the_rest_of_the_audience_untouched_on_the_platform(
    dagbag: Any, wave_env: dict[str, str], db: psycopg.Connection[TupleRow], wave_sim: SimulatorServer,
    cause: str, reason: str,
) -> None:
    known = known_phones(wave_sim)
    if cause == "unknown numbers":  # most of the audience is unknown to the platform: its import drops them
        unknown = [p for p in (f"+1202555{i:04d}" for i in range(100, 200)) if p not in set(known)][:72]
        phones, sample_size = known[:8] + unknown, 10
    else:
        phones, sample_size = known[:40], 5
        requests.post(f"{wave_sim.base_url}/sim/config", json={"wave": {"failure_rate": 1.0}},
                      timeout=10).raise_for_status()
    seed_source(db, phones)
    dr = dagbag.dags["sms_campaign_wave"].test(logical_date=datetime(2026, 11, 23, 12, tzinfo=UTC),
                                               run_conf=conf(sample_size=sample_size))
    assert "failed" in str(dr.state).lower()
    mailing = wave_of(db, datetime(2026, 11, 23, 12, tzinfo=UTC))
    phase = dict(db.execute("SELECT phone_e164, CASE WHEN holdout THEN 'holdout' ELSE phase END FROM wave_recipients "
                            "WHERE mailing_name = %s", (mailing,)).fetchall())
    sample = {p for p, ph in phase.items() if ph == "sample"}
    rest = {p for p, ph in phase.items() if ph == "full"}
    assert len(sample) == sample_size and rest & set(known)
    # The platform received one contact import: the sample's. Nobody else's profile was touched, nor texted.
    assert [set(i["phones"]) for i in wave_sim.push.contacts.received()] == [sample]
    assert not any(wave_sim.push.contacts.profile(p) for p in rest)
    assert set(sends_of(wave_sim, mailing)) <= sample
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert states["update_profiles_sample"].endswith("success") and states["send_sample"].endswith("success")
    assert states["sample_gate"].endswith("failed")
    assert not states["update_profiles_full"].endswith("success") and not states["send_full"].endswith("success")
    row = db.execute("SELECT status, reason FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    assert row is not None and row[0] == "sample_failed" and re.search(reason, row[1]), row
    assert db.execute("SELECT phase, status FROM wave_profile_imports WHERE mailing_name = %s",
                      (mailing,)).fetchall() == [("sample", "completed")]


@pytest.mark.parametrize(("bad", "message"), [
    ({"sample_sise": 10}, "unknown conf key(s) 'sample_sise'"),
    ({"source_mailing": "x'; DROP TABLE mailings;--"}, "does not match"),
    ({"sample_size": "ten"}, "is not of type 'integer'"),
    ({"template": "Hi {first_name}"}, "unknown placeholder(s) {first_name}"),
])
def test_a_bad_wave_request_is_refused_and_changes_nothing(
    dagbag: Any, wave_env: dict[str, str], db: psycopg.Connection[TupleRow], wave_sim: SimulatorServer,
    bad: dict[str, Any], message: str, capfd: pytest.CaptureFixture[str],
) -> None:
    from sms_response.report import fingerprint

    seed_source(db, known_phones(wave_sim)[:20])
    before = fingerprint(db)
    try:
        dr = dagbag.dags["sms_campaign_wave"].test(logical_date=datetime(2026, 11, 23, 12, tzinfo=UTC),
                                                   run_conf=conf(**bad))
    except Exception as exc:  # Params refuse wrong types and patterns before the run starts
        assert message in str(exc)
    else:
        assert "failed" in str(dr.state).lower()
        out, err = capfd.readouterr()
        assert message in out + err
    assert fingerprint(db) == before
    assert db.execute("SELECT count(*) FROM wave_runs").fetchone() == (0,)
    assert wave_sim.push.send_counts()["total"] == 0
