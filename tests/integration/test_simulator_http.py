"""The simulator's event API over real HTTP on loopback: paging, truth, auth, validation, faults."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simulator_records import classify

from sms_simulator import FaultConfig, PlatformState, SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration

TOKEN = "test-token-not-a-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
H = timedelta(hours=1)
CONFIG = SimulatorConfig(
    seed=5,
    recipients=300,
    mailings=2,
    duplicate_rate=0.04,
    malformed_rate=0.04,
    late_rate=0.05,
    multi_event_rate=0.2,
)
START = CONFIG.campaign_start


@pytest.fixture(scope="module")
def state() -> PlatformState:
    return build_state(CONFIG)


@pytest.fixture(scope="module")
def sim(state: PlatformState) -> Iterator[SimulatorServer]:
    with SimulatorServer(state, token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def span(state: PlatformState) -> tuple[datetime, datetime]:
    """Whole hours covering every publication time of the campaign."""
    campaign = state.campaign
    assert campaign is not None
    last = datetime.fromtimestamp(campaign.published_us[-1] / 1e6, UTC)
    return START, last.replace(minute=0, second=0, microsecond=0) + H


def params(start: datetime, end: datetime, **extra: Any) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat(), **{k: str(v) for k, v in extra.items()}}


def fetch_all(
    http: requests.Session, base: str, start: datetime, end: datetime, limit: int = 50, **filters: str
) -> list[list[Any]]:
    """Pages of one window, fault-free path: every response must be a 200."""
    query = params(start, end, limit=limit, **filters)
    pages = []
    while True:
        resp = http.get(f"{base}/v1/events", params=query, headers=AUTH, timeout=10)
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        assert doc["count"] == len(doc["data"]) <= limit
        pages.append(doc["data"])
        if doc["next_cursor"] is None:
            return pages
        query = {**query, "cursor": doc["next_cursor"]}




def event_attrs(envelope: dict[str, Any]) -> list[tuple[str, dict[str, str], datetime]]:
    return [
        (e["code"], {a["name"]: a["value"] for a in e["attributes"]}, datetime.fromisoformat(e["timestamp"]))
        for e in envelope["events"]
    ]


# -- paging against truth --------------------------------------------------------------------


def test_hourly_windows_paged_over_http_equal_the_simulators_truth(
    sim: SimulatorServer, state: PlatformState, http: requests.Session
) -> None:
    first, last = span(state)
    seen: set[str] = set()
    everything: list[Any] = []
    totals: Counter[str] = Counter()
    start = first
    while start < last:
        end = start + H
        envelopes = [e for page in fetch_all(http, sim.base_url, start, end) for e in page]
        everything += envelopes
        truth = http.get(f"{sim.base_url}/sim/truth", params=params(start, end), timeout=10).json()
        got: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        for envelope in envelopes:
            kind = classify(envelope)
            if kind is not None:
                kinds[kind] += 1
                got["malformed"] += 1
                continue
            for _code, attrs, ts in event_attrs(envelope):
                if attrs["eventId"] in seen:
                    got["duplicates"] += 1
                else:
                    got["valid_events"] += 1
                    got["late_events"] += ts < start
                seen.add(attrs["eventId"])
        assert truth["records"] == got["valid_events"] + got["duplicates"] + got["malformed"]
        for key in ("valid_events", "duplicates", "malformed", "late_events"):
            assert truth[key] == got[key], (start, key)
        assert {k: v for k, v in truth["malformed_by_kind"].items() if v} == dict(kinds)
        totals.update({k: truth[k] for k in ("records", "valid_events", "duplicates", "malformed", "late_events")})
        start = end
    # The union of all windows is exactly the whole log, in publication order.
    whole, cursor = state.page_json(first, last, limit=5000)
    assert cursor is None
    assert [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in everything] == whole
    assert (
        totals["records"]
        == state.truth(first, last)["records"]
        == len(whole) + sum(len(e["events"]) - 1 for e in everything if classify(e) is None)
    )
    assert min(totals.values()) > 0  # the campaign really has duplicates, junk and late events


def test_paging_a_closed_window_twice_is_identical(sim: SimulatorServer, http: requests.Session) -> None:
    window = (START, START + 3 * H)
    first = fetch_all(http, sim.base_url, *window, limit=37)
    second = fetch_all(http, sim.base_url, *window, limit=37)
    assert first == second and len(first) > 3


def test_codes_and_mailings_filters(sim: SimulatorServer, state: PlatformState, http: requests.Session) -> None:
    window = span(state)
    truth = state.truth(*window)
    mailing = state.campaign.mailing_names()[1] if state.campaign else ""

    def valid(pages: list[list[Any]]) -> list[tuple[str, dict[str, str], datetime]]:
        return [ev for page in pages for e in page if classify(e) is None for ev in event_attrs(e)]

    sent = valid(fetch_all(http, sim.base_url, *window, limit=200, codes="sentSMS"))
    assert {code for code, _, _ in sent} == {"sentSMS"}
    assert len({a["eventId"] for _, a, _ in sent}) == sum(m["sentSMS"]["total"] for m in truth["by_mailing"].values())

    one = valid(fetch_all(http, sim.base_url, *window, limit=200, mailings=mailing))
    assert {a["mailingName"] for _, a, _ in one} == {mailing}
    assert len({a["eventId"] for _, a, _ in one}) == sum(b["total"] for b in truth["by_mailing"][mailing].values())

    both = valid(fetch_all(http, sim.base_url, *window, limit=200, codes="interactedSMS", mailings=mailing))
    assert len({a["eventId"] for _, a, _ in both}) == truth["by_mailing"][mailing]["interactedSMS"]["total"] > 0
    assert fetch_all(http, sim.base_url, *window, mailings="NoSuchMailing") == [[]]


# -- auth and validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401(sim: SimulatorServer, http: requests.Session, headers: dict[str, str]) -> None:
    resp = http.get(f"{sim.base_url}/v1/events", params=params(START, START + H), headers=headers, timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"error": "unauthorized"}
    assert TOKEN not in resp.text


@pytest.mark.parametrize(
    "query",
    [
        {"end": "2026-11-20T10:00:00Z"},
        {"start": "2026-11-20T09:00:00", "end": "2026-11-20T10:00:00"},
        {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T09:00:00Z"},
        {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T09:00:00Z"},
        {"start": "yesterday", "end": "2026-11-20T10:00:00Z"},
        {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z", "limit": "0"},
        {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z", "limit": "5001"},
        {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z", "limit": "ten"},
        {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z", "codes": "viewedSMS"},
        {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z", "cursor": "garbage"},
    ],
)
def test_bad_window_limit_filter_or_cursor_is_400(
    sim: SimulatorServer, http: requests.Session, query: dict[str, str]
) -> None:
    resp = http.get(f"{sim.base_url}/v1/events", params=query, headers=AUTH, timeout=10)
    assert resp.status_code == 400
    assert isinstance(resp.json()["error"], str)


def test_cursor_of_another_window_is_400(sim: SimulatorServer, http: requests.Session) -> None:
    doc = http.get(f"{sim.base_url}/v1/events", params=params(START, START + H, limit=5), headers=AUTH).json()
    other = params(START, START + 2 * H, limit=5, cursor=doc["next_cursor"])
    assert http.get(f"{sim.base_url}/v1/events", params=other, headers=AUTH).status_code == 400


def test_health_and_sim_config_validation(sim: SimulatorServer, http: requests.Session) -> None:
    assert http.get(f"{sim.base_url}/healthz").json() == {"ok": True}
    assert http.post(f"{sim.base_url}/sim/config", json={"rate_429": 2}).status_code == 400
    assert http.post(f"{sim.base_url}/sim/config", json={"bogus": 1}).status_code == 400
    assert http.post(f"{sim.base_url}/sim/config", json=[1]).status_code == 400
    assert http.get(f"{sim.base_url}/sim/config").json()["faults"] == FaultConfig().to_json()


# -- faults ---------------------------------------------------------------------------------------


def fetch_with_retries(
    http: requests.Session, base: str, start: datetime, end: datetime, limit: int
) -> tuple[list[list[Any]], Counter[str], int]:
    """A minimal retrying client: same request again after any injected failure."""
    query = params(start, end, limit=limit)
    pages: list[list[Any]] = []
    failures: Counter[str] = Counter()
    longest_streak = streak = 0
    while True:
        try:
            resp = http.get(f"{base}/v1/events", params=query, headers=AUTH, timeout=10)
            if resp.status_code == 429:
                assert resp.headers["Retry-After"] == "0"
                time.sleep(float(resp.headers["Retry-After"]))
                raise LookupError("429")
            if resp.status_code >= 500:
                raise LookupError("5xx")
            assert resp.status_code == 200
            doc = resp.json()
        except requests.exceptions.ChunkedEncodingError:
            failures["cut_dropped"] += 1
        except requests.exceptions.JSONDecodeError:
            failures["cut_truncated"] += 1
        except LookupError as exc:
            failures[str(exc)] += 1
        else:
            streak = 0
            pages.append(doc["data"])
            if doc["next_cursor"] is None:
                return pages, failures, longest_streak
            query = {**query, "cursor": doc["next_cursor"]}
            continue
        streak += 1
        longest_streak = max(longest_streak, streak)


def test_retrying_client_gets_every_page_through_429_5xx_and_cut_pages(
    state: PlatformState, http: requests.Session
) -> None:
    window = (START, START + 4 * H)
    with SimulatorServer(state, token=TOKEN) as clean:
        expected = fetch_all(http, clean.base_url, *window, limit=40)
    with SimulatorServer(state, token=TOKEN) as faulty:
        faults = {"rate_429": 0.3, "rate_5xx": 0.3, "rate_cut": 0.2, "retry_after": 0, "fault_seed": 1}
        resp = http.post(f"{faulty.base_url}/sim/config", json=faults)
        assert resp.status_code == 200 and resp.json()["faults"]["rate_cut"] == 0.2
        pages, failures, longest_streak = fetch_with_retries(http, faulty.base_url, *window, limit=40)
        stats = http.get(f"{faulty.base_url}/sim/stats").json()
    assert pages == expected
    assert longest_streak <= 2  # max_faults_per_page
    assert stats["faults"]["429"] == failures["429"] > 0
    assert stats["faults"]["5xx"] == failures["5xx"] > 0
    assert stats["faults"]["cut"] == failures["cut_dropped"] + failures["cut_truncated"] > 0
    assert stats["pages_served"] == len(expected)
    assert stats["requests"] == len(expected) + sum(failures.values())


def test_slow_pages_are_delayed_and_counted(state: PlatformState, http: requests.Session) -> None:
    with SimulatorServer(state, token=TOKEN, faults=FaultConfig(rate_slow=1.0, slow_seconds=0.3)) as slow:
        t0 = time.monotonic()
        resp = http.get(f"{slow.base_url}/v1/events", params=params(START, START + H, limit=5), headers=AUTH)
        elapsed = time.monotonic() - t0
        assert resp.status_code == 200 and elapsed >= 0.3
        assert slow.stats()["faults"]["slow"] == 1


def test_server_stops_cleanly_and_frees_its_port(state: PlatformState) -> None:
    with SimulatorServer(state, token=TOKEN) as server:
        base = server.base_url
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=5)
    with pytest.raises(RuntimeError):
        _ = server.base_url
