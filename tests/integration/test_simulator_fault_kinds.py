"""The event API's reset and duplicated-page faults and its page gate, over real HTTP."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from sms_response.platform import causes_of
from sms_simulator import FaultConfig

pytestmark = pytest.mark.integration
WINDOW = {"start": "2026-11-20T09:00:00+00:00", "end": "2026-11-20T12:00:00+00:00", "limit": "20"}


@pytest.fixture
def sim(simulator: Any) -> Any:
    simulator.runtime.decider.reset()
    yield simulator
    simulator.set_faults(FaultConfig())
    simulator.page_gate.release()


def get(sim: Any, token: str, **params: str) -> requests.Response:
    return requests.get(f"{sim.base_url}/v1/events", params={**WINDOW, **params},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_reset_fault_resets_the_connection_before_any_answer(sim: Any, sim_token: str) -> None:
    sim.set_faults(FaultConfig(rate_reset=1.0, max_faults_per_page=1))
    with pytest.raises(requests.ConnectionError) as exc:
        get(sim, sim_token)
    assert any(isinstance(c, ConnectionResetError) for c in causes_of(exc.value)), repr(exc.value)
    assert get(sim, sim_token).status_code == 200  # the page's next attempt is answered
    assert sim.stats()["faults"]["reset"] >= 1


def test_a_duplicated_page_does_not_advance_its_cursor(sim: Any, sim_token: str) -> None:
    first = get(sim, sim_token).json()
    sim.set_faults(FaultConfig(rate_dup=1.0, max_faults_per_page=1))
    assert get(sim, sim_token).json()["next_cursor"] == first["next_cursor"]  # never on the first page
    second = get(sim, sim_token, cursor=first["next_cursor"]).json()
    assert second["next_cursor"] == first["next_cursor"] and second["data"]  # the same page is handed out again
    again = get(sim, sim_token, cursor=first["next_cursor"]).json()
    assert again["data"] == second["data"] and again["next_cursor"] != first["next_cursor"]


def test_the_page_gate_holds_a_page_request_until_released(sim: Any, sim_token: str) -> None:
    sim.page_gate.arm(1)
    answers: list[int] = []
    client = threading.Thread(target=lambda: answers.extend(get(sim, sim_token).status_code for _ in range(2)))
    client.start()
    assert sim.page_gate.wait_blocked(timeout=10) and answers == [200]
    sim.page_gate.release()
    client.join(timeout=10)
    assert answers == [200, 200]
