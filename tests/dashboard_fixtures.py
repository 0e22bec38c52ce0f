"""The seeded campaign and an A/B wave, loaded the way the pipeline loads them, for the dashboard's tests.

Windows are downloaded from the simulator, imported, validated (Great Expectations) and published; then
segments and metrics are refreshed, an A/B wave with a 20 % holdout is planned, sent (sample, gate, full)
to the first blast's non-responders, and the wave's window is loaded and refreshed too. Every step is the
library's own (what the DAGs' tasks call); no Airflow is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from sms_response.download import download_window
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.metrics.refresh import refresh_metrics
from sms_response.platform import SmsPlatformClient
from sms_response.publish import publish_window, record_validation
from sms_response.quality import validate_window
from sms_response.segments import refresh_segments
from sms_response.settings import QualityConfig
from sms_response.waves.plan import plan_wave
from sms_response.waves.profiles import finish_profile_update, start_profile_update
from sms_response.waves.sample_gate import evaluate_sample
from sms_response.waves.send import send_phase
from sms_response.window import Window
from sms_simulator import SimulatorConfig

H = timedelta(hours=1)
CAMPAIGN_START = datetime(2026, 11, 20, 9, tzinfo=UTC)
CAMPAIGN = "SPRING26"
SOURCE = "SPRING26_Wave1_Offer_20261120090000"
WAVE_AT = datetime(2026, 11, 23, 17, tzinfo=UTC)  # 12:00 in New York, 09:00 in Los Angeles: nobody sleeps
WAVE_RUN_ID = "dashboard_wave"
VARIANTS = {
    "A": "ShopCo: 20% off ends tonight: https://shop.example/sale Reply STOP to end",
    "B": "ShopCo: a gift with every order today: https://shop.example/gift FAQ https://shop.example/faq "
         "Reply STOP to end",
}
WINDOWS = (
    Window(CAMPAIGN_START - H, CAMPAIGN_START + 3 * H),
    Window(CAMPAIGN_START + 3 * H, WAVE_AT - H),
)
WAVE_WINDOW = Window(WAVE_AT - H, WAVE_AT + 3 * H)


def simulator_config() -> SimulatorConfig:
    """The seeded campaign of the end-to-end tests (noisy: duplicates, malformed and late records)."""
    return SimulatorConfig(seed=11, recipients=300, mailings=2, campaign_start=CAMPAIGN_START, duplicate_rate=0.02,
                           malformed_rate=0.02, late_rate=0.05, multi_event_rate=0.02)


@dataclass(frozen=True)
class Seeded:
    schema: str
    campaign: str
    mailings: tuple[str, ...]
    wave: str
    wave_request_key: str
    load_ids: tuple[str, ...]


def load_window(conn: psycopg.Connection[Any], url: str, schema: str, client: SmsPlatformClient, root: Path,
                window: Window, run_id: str) -> str:
    """download → import → validate → publish, as the tracking DAG's tasks do."""
    download_window(client, window, root / "landing", source_name="simulator")
    import_window(conn, schema, root / "landing", window, load_mapping(), default_region="US", run_id=run_id)
    report = validate_window(url, schema, window, QualityConfig(data_docs_dir=root / "data_docs"))
    record_validation(conn, report, run_id)
    publish_window(conn, window.id)
    return window.id


def push_profiles(conn: psycopg.Connection[Any], client: SmsPlatformClient, mailing: str, phase: str) -> None:
    """One phase's contact import, started and polled to its end (the wave DAG's update_profiles_<phase>)."""
    started = start_profile_update(conn, client, mailing, phase)
    deadline = time.monotonic() + 30
    while started.import_id and not started.finished:
        status = client.contact_import_status(started.import_id)
        if status["status"] in ("Completed", "Failed"):
            finish_profile_update(conn, mailing, phase, status)
            return
        assert time.monotonic() < deadline, "the contact import never finished"
        time.sleep(0.2)


def send_wave(conn: psycopg.Connection[Any], client: SmsPlatformClient, short_link_base: str,
              request_key: str, now: Callable[[], datetime]) -> str:
    """Plan, push the sample's profiles, send it, pass the gate, push the rest's and send them (the wave DAG's steps)."""
    from sms_response.consent.records import parse_opt_status_export
    from sms_response.consent.store import load_consent
    from sms_response.phones import PhoneNormaliser
    from sms_response.waves.request import WaveSpec

    spec = WaveSpec(campaign_code=CAMPAIGN, wave_name="Reminder", source_mailing=SOURCE, segment="non_responders",
                    variants=VARIANTS, sample_size=20, sample_threshold=0.5, batch_size=50, holdout_pct=20,
                    quiet_start="00:00", quiet_end="23:59", min_per_variant=5)
    # The platform's opt-status export, as the wave DAG loads it before planning (opt_in_required).
    load_consent(conn, parse_opt_status_export(client.opt_status(), PhoneNormaliser("US")), "opt-status export",
                 unit="subscriber")
    mailing = plan_wave(conn, spec, request_key=request_key, stamp=WAVE_AT, short_link_base=short_link_base).mailing_name
    push_profiles(conn, client, mailing, "sample")
    send_phase(conn, client, mailing, "sample", now=now)
    result = evaluate_sample(conn, client, load_mapping(), mailing, now=lambda: now() + 2 * H,
                             short_link_base=short_link_base)
    assert result.ready and result.passed, result
    push_profiles(conn, client, mailing, "full")
    send_phase(conn, client, mailing, "full", now=now)
    return mailing


def seed_campaign(url: str, schema: str, sim: Any, token: str, root: Path, *, with_wave: bool = True) -> Seeded:
    """Load the simulator's campaign into ``schema`` (migrated) and, with ``with_wave``, send and load a wave."""
    from sms_response.db import connect

    client = SmsPlatformClient(sim.base_url, token)
    conn = connect(url, schema, autocommit=True)
    try:
        load_ids = [load_window(conn, url, schema, client, root, w, "dashboard_seed") for w in WINDOWS]
        mailings = [str(r[0]) for r in conn.execute("SELECT mailing_name FROM mailings ORDER BY 1").fetchall()]
        refresh_segments(conn, mailings, trigger={"source": "dashboard tests"})
        refresh_metrics(conn)
        wave, key = "", f"sms_campaign_wave/{WAVE_RUN_ID}"
        if with_wave:
            sim.push.clock = lambda: WAVE_AT  # the platform's clock agrees with the wave's frozen one
            wave = send_wave(conn, client, f"{sim.base_url}/r", key, now=lambda: WAVE_AT)
            load_ids.append(load_window(conn, url, schema, client, root, WAVE_WINDOW, "dashboard_wave"))
            refresh_segments(conn, [SOURCE, wave], trigger={"source": "dashboard tests"})
            refresh_metrics(conn)
    finally:
        conn.close()
        client.close()
    return Seeded(schema, CAMPAIGN, tuple(mailings), wave, key, tuple(load_ids))
