"""Download from the simulator over real HTTP, with faults switched on."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sms_response.download import download_window
from sms_response.errors import PlatformAuthError
from sms_response.landing import iter_envelopes, read_manifest
from sms_response.platform import RetryPolicy, SmsPlatformClient
from sms_response.window import Window
from sms_simulator import FaultConfig

pytestmark = pytest.mark.integration
START = datetime.fromisoformat("2026-11-20T09:00:00+00:00")


def window(hours: int = 1, offset: int = 0) -> Window:
    return Window(START + timedelta(hours=offset), START + timedelta(hours=offset + hours))


def truth(sim: Any, w: Window) -> dict[str, Any]:
    return dict(sim.state.truth(w.start, w.end))


def test_download_with_faults_gets_every_record_and_honours_retry_after(
    simulator: Any, sim_token: str, tmp_path: Path
) -> None:
    simulator.set_faults(FaultConfig(rate_429=0.3, retry_after=2, rate_5xx=0.3, rate_cut=0.2, rate_slow=0.05,
                                     slow_seconds=0.2, max_faults_per_page=2, fault_seed=3))
    waits: list[float] = []
    client = SmsPlatformClient(simulator.base_url, sim_token, retry=RetryPolicy(attempts=5, backoff_initial=0.01,
                                                                             backoff_max=0.05),
                            sleep=waits.append)
    try:
        w = window(hours=3)
        before = simulator.stats()["faults"]
        manifest = download_window(client, w, tmp_path, page_size=50)
    finally:
        simulator.set_faults(FaultConfig())
        client.close()
    faults = {k: simulator.stats()["faults"][k] - before.get(k, 0) for k in ("429", "5xx", "cut")}
    assert all(n > 0 for n in faults.values()), faults
    assert client.retries_done == len(waits) >= sum(faults.values())
    assert 2.0 in waits, "a 429's Retry-After: 2 was not honoured"
    t = truth(simulator, w)
    assert manifest.records == t["records"] and manifest.envelopes == t["envelopes"]
    assert manifest.pages > 1
    d, m = read_manifest(tmp_path, w.id)
    ids = [e["events"][0]["attributes"] for _, _, e in iter_envelopes(d, m)
           if isinstance(e, dict) and isinstance(e.get("events"), list) and e["events"]
           and isinstance(e["events"][0], dict) and isinstance(e["events"][0].get("attributes"), list)]
    assert len(ids) > 0


def test_second_download_of_a_window_gives_identical_files(simulator: Any, sim_token: str, tmp_path: Path) -> None:
    client = SmsPlatformClient(simulator.base_url, sim_token)
    w = window(offset=1)
    first = download_window(client, w, tmp_path, page_size=40)
    second = download_window(client, w, tmp_path, page_size=40)
    client.close()
    assert first.sha256 == second.sha256 and first.records == second.records
    assert len(list((tmp_path / ".versions").iterdir())) == 1


def test_bad_token_fails_at_once_without_leaking_it(simulator: Any, tmp_path: Path) -> None:
    secret = "not-the-token-zzz"
    client = SmsPlatformClient(simulator.base_url, secret, sleep=lambda s: pytest.fail("must not retry a 401"))
    with pytest.raises(PlatformAuthError) as exc:
        download_window(client, window(), tmp_path)
    assert "401" in str(exc.value) and secret not in str(exc.value) and secret not in repr(client)
    assert not (tmp_path / window().id).exists(), "a failed download must not publish a window"


def test_persistent_server_errors_give_up_after_the_retry_budget(simulator: Any, sim_token: str, tmp_path: Path) -> None:
    simulator.set_faults(FaultConfig(rate_5xx=1.0, max_faults_per_page=100))
    client = SmsPlatformClient(simulator.base_url, sim_token, retry=RetryPolicy(attempts=3), sleep=lambda s: None)
    try:
        with pytest.raises(Exception, match="HTTP 5"):
            download_window(client, window(), tmp_path)
    finally:
        simulator.set_faults(FaultConfig())
    assert client.retries_done == 2


def test_filters_narrow_the_download(simulator: Any, sim_token: str, tmp_path: Path) -> None:
    client = SmsPlatformClient(simulator.base_url, sim_token)
    w = window(hours=4)
    full = download_window(client, w, tmp_path / "a")
    only_sent = download_window(client, Window.filtered(w.start, w.end, codes=["sentSMS"]), tmp_path / "b")
    client.close()
    assert 0 < only_sent.records < full.records
