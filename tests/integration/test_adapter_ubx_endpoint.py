"""The UBX adapter against the simulator's UBX endpoint over real HTTP: the event files carry the same facts the
event API serves, listing quirks never land a file twice, faults are retried, and a rerun is served by the
ledger when the server no longer has the files."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from sms_response.adapters import PlatformConnection
from sms_response.adapters.ubx import UbxEventSource, source_from_connection
from sms_response.download import download_window
from sms_response.errors import PlatformAuthError, PlatformError
from sms_response.events import EventRow, Normaliser, Reject
from sms_response.landing import iter_envelopes, read_manifest
from sms_response.mapping import load_mapping
from sms_response.phones import PhoneNormaliser
from sms_response.platform import SmsPlatformClient
from sms_response.window import Window
from sms_simulator import FaultConfig, SimulatorConfig, SimulatorServer, build_state, ubx

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 20, 9, tzinfo=UTC)
H = timedelta(hours=1)
WINDOWS = [Window(START, START + H), Window(START + H, START + 2 * H), Window(START + 2 * H, START + 3 * H),
           Window(START + 3 * H, START + 88 * H)]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    # A third blast: its template is UCS-2 and takes several parts, which UBX does not publish.
    cfg = SimulatorConfig(seed=11, recipients=300, mailings=3, campaign_start=START, duplicate_rate=0.02,
                          malformed_rate=0.02, late_rate=0.05, multi_event_rate=0.02)
    with SimulatorServer(build_state(cfg), token=secrets.token_urlsafe(8)) as server:
        yield server


@pytest.fixture
def endpoint(sim: SimulatorServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with ubx.start(sim, tmp_path / "endpoint") as conn:
        yield conn


def url(conn: dict[str, Any]) -> str:
    return f"http://{conn['host']}:{conn['port']}"


def source(conn: dict[str, Any], landing: Path, **extra: Any) -> UbxEventSource:
    pc = PlatformConnection("ubx", url(conn), conn["login"], conn["password"], {**conn["extra"], **extra})
    return source_from_connection(pc, landing_root=landing, sleep=lambda _: None)


def normalised(landing: Path, w: Window) -> tuple[list[tuple[Any, ...]], Counter[str]]:
    """Every row the importer makes of the landed window (all columns but the attributes jsonb) and its rejects."""
    directory, manifest = read_manifest(landing, w.id)
    mapping = load_mapping()
    norm = Normaliser(mapping, w, w.id, PhoneNormaliser("US"))
    rows: list[tuple[Any, ...]] = []
    rejects: Counter[str] = Counter()
    for part, line, env in iter_envelopes(directory, manifest):
        for r in norm.normalise(env, f"{part}:{line}"):
            if isinstance(r, EventRow):
                cmap = mapping.for_code(r.code)
                assert cmap is not None
                rows.append((r.code, *(v for c, v in zip(cmap.copy_columns, r.values, strict=True)
                                       if c != "attributes")))
            elif isinstance(r, Reject):
                rejects[r.reason] += 1
    return sorted(rows, key=repr), rejects


def test_each_window_lands_the_facts_the_event_api_serves(
    sim: SimulatorServer, endpoint: dict[str, Any], tmp_path: Path
) -> None:
    api = SmsPlatformClient(sim.base_url, sim.runtime.token)
    src = source(endpoint, tmp_path / "ubx")
    parts: Counter[Any] = Counter()
    try:
        for w in WINDOWS:
            manifest = download_window(src, w, tmp_path / "ubx")
            download_window(api, w, tmp_path / "api")
            truth = sim.state.truth(w.start, w.end)
            assert manifest.records == truth["records"] > 0, w.id
            ubx_rows, ubx_rejects = normalised(tmp_path / "ubx", w)
            api_rows, api_rejects = normalised(tmp_path / "api", w)
            assert ubx_rows == api_rows, w.id  # message_parts included: counted from the body
            parts.update(r[load_mapping().codes["sentSMS"].copy_columns.index("message_parts") + 1]
                         for r in ubx_rows if r[0] == "sentSMS")
            assert ubx_rejects == api_rejects and sum(ubx_rejects.values()) == truth["malformed"], w.id
    finally:
        src.close()
        api.close()
    assert parts[1] > 0 and parts[3] > 0, parts
    # The campaign's program arrived under both spellings, and so did the phone identifier.
    names: Counter[str] = Counter()
    for path in (tmp_path / "endpoint" / "ubx-eventfiles").glob("*.json"):
        for n in json.loads(path.read_bytes()):
            event = n.get("event") if isinstance(n, dict) else None
            if isinstance(event, dict) and isinstance(event.get("attributes"), list):
                names.update(a.get("name") for a in event["attributes"] + n["identifiers"] if isinstance(a, dict))
    assert all(names[n] > 50 for n in ("programId", "smsProgramId", "programName", "smsProgramName",
                                        "mobileNumber", "phoneNumber")), names


@pytest.mark.parametrize(("paging", "next_as_link"), [("cursor", False), ("cursor", True), ("offset", False),
                                                     ("none", False)])
def test_a_file_listed_twice_or_again_after_its_download_lands_once(
    sim: SimulatorServer, tmp_path: Path, paging: str, next_as_link: bool
) -> None:
    with ubx.start(sim, tmp_path / "endpoint", next_as_link=next_as_link) as endpoint:
        check_listing_quirks(sim, endpoint, tmp_path, paging)


def check_listing_quirks(sim: SimulatorServer, endpoint: dict[str, Any], tmp_path: Path, paging: str) -> None:
    src = source(endpoint, tmp_path, ubx_paging=paging, ubx_page_size=7)
    try:
        first = list(src.http.list_files())
        assert len(first) > len({f.name for f in first}), "the listing names some file twice"
        for w in WINDOWS:
            manifest = download_window(src, w, tmp_path)
            assert manifest.records == sim.state.truth(w.start, w.end)["records"], w.id
        again = list(src.http.list_files())
        relisted = {f.name for f in again if f.created - min(g.created for g in again if g.name == f.name) >= H}
        assert relisted, "downloaded files are listed again, an hour later"
        for w in WINDOWS:  # a rerun sees the re-listings but lands the same bytes
            before = read_manifest(tmp_path, w.id)[1].sha256
            assert download_window(src, w, tmp_path).sha256 == before, w.id
    finally:
        src.close()
    downloads = requests.get(f"{url(endpoint)}/sim/ubx/stats", timeout=10).json()["downloads"]
    assert downloads and set(downloads.values()) == {1}


def test_a_rerun_reads_the_ledger_once_the_server_dropped_the_files(
    endpoint: dict[str, Any], tmp_path: Path
) -> None:
    w = WINDOWS[1]
    src = source(endpoint, tmp_path)
    try:
        landed = download_window(src, w, tmp_path)
        assert requests.post(f"{url(endpoint)}/sim/ubx/expire", json={}, timeout=10).json()["expired"] > 0
        assert src.listing() == {}
        rerun = download_window(src, w, tmp_path)
    finally:
        src.close()
    assert (rerun.records, rerun.sha256) == (landed.records, landed.sha256)
    assert src.files_downloaded == rerun.pages == src.files_from_ledger > 0


def test_a_file_listed_once_but_never_fetched_and_gone_fails_with_its_name(
    endpoint: dict[str, Any], tmp_path: Path
) -> None:
    src = source(endpoint, tmp_path)
    try:
        src.listing()  # seen, entered in the ledger, not fetched
        requests.post(f"{url(endpoint)}/sim/ubx/expire", json={"before": (START + H).isoformat()}, timeout=10)
        with pytest.raises(PlatformError, match=r"ubx-events-20261120T09\d{4}Z-\d\d\.json .*cannot be fetched"):
            download_window(src, WINDOWS[0], tmp_path)
        assert download_window(src, WINDOWS[1], tmp_path).records > 0  # later files are still there
    finally:
        src.close()


def test_faults_are_retried_until_every_file_is_complete(
    sim: SimulatorServer, endpoint: dict[str, Any], tmp_path: Path
) -> None:
    sim.set_faults(FaultConfig(rate_429=0.2, retry_after=0, rate_5xx=0.2, rate_cut=0.3, max_faults_per_page=2,
                               fault_seed=5))
    src = source(endpoint, tmp_path, ubx_page_size=10)
    try:
        manifests = [download_window(src, w, tmp_path) for w in WINDOWS[:3]]
    finally:
        sim.set_faults(FaultConfig())
        src.close()
    assert src.retries_done > 10
    assert [m.records for m in manifests] == [sim.state.truth(w.start, w.end)["records"] for w in WINDOWS[:3]]


def test_a_wrong_key_fails_at_once_and_is_never_shown(endpoint: dict[str, Any], tmp_path: Path) -> None:
    wrong = secrets.token_urlsafe(16)
    src = source({**endpoint, "password": wrong}, tmp_path)
    try:
        with pytest.raises(PlatformAuthError) as caught:
            download_window(src, WINDOWS[0], tmp_path)
    finally:
        src.close()
    assert "401" in str(caught.value) and wrong not in str(caught.value) and wrong not in repr(src.http)
    assert src.retries_done == 0
