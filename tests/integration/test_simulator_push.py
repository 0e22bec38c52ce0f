"""The simulator's push side over HTTP: contact update imports and exactly-once batch sends that close the loop."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from sms_simulator import SimulatorConfig, SimulatorServer, build_state

pytestmark = pytest.mark.integration
START = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
TOKEN = "push-token"


@pytest.fixture(scope="module")
def sim() -> Any:
    state = build_state(SimulatorConfig(seed=3, recipients=50, mailings=1, campaign_start=START))
    with SimulatorServer(state, token=TOKEN) as s:
        yield s


def call(sim: Any, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, sim.base_url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10, **kw)


def phones(sim: Any) -> list[str]:
    return sorted(c.e164 for c in sim.state.contacts() if c.e164)


def test_contact_import_updates_known_numbers_and_drops_unknown_ones(sim: Any) -> None:
    known = phones(sim)[:2]
    csv_text = "phone,email,loyalty tier\n" + "\n".join(f"{p},a{i}@x.example,gold" for i, p in enumerate(known))
    csv_text += "\n+12025550199,ghost@x.example,gold\n"
    body = {"file_stream": base64.b64encode(csv_text.encode()).decode(), "import_type": "UpdateSubscribers",
            "has_header": True, "column_mappings": [{"column_index": 0, "field": "phone"},
                                                    {"column_index": 1, "field": "email"},
                                                    {"column_index": 2, "field": "custom:loyalty_tier"}]}
    r = call(sim, "POST", "/v1/contacts/imports", json=body)
    assert r.status_code == 201
    rid = r.json()["resource_id"]
    first = call(sim, "GET", f"/v1/contacts/imports/{rid}").json()
    assert first["status"] == "Processing"
    done = call(sim, "GET", f"/v1/contacts/imports/{rid}").json()
    assert done["status"] == "Completed" and done["updated"] == 2 and done["dropped_unknown"] == ["+12025550199"]
    assert sim.app.state.push.contacts.profile(known[0])["custom:loyalty_tier"] == "gold"


def test_unknown_custom_field_is_refused_naming_it(sim: Any) -> None:
    body = {"file_stream": base64.b64encode(b"phone,x\n+12015550100,1\n").decode(),
            "column_mappings": [{"column_index": 0, "field": "phone"}, {"column_index": 1, "field": "custom:shoe_size"}]}
    r = call(sim, "POST", "/v1/contacts/imports", json=body)
    assert r.status_code == 400 and "shoe_size" in r.json()["error"]


def test_batch_send_is_exactly_once_per_idempotency_key_and_becomes_events(sim: Any) -> None:
    targets = phones(sim)[:5]
    mailing = "SPRING26_Wave2_Reminder_20261121090000"
    msgs = [{"idempotency_key": f"{mailing}:{p}", "phone": p, "mailing_name": mailing, "body": "Hi"} for p in targets]
    first = call(sim, "POST", "/v1/messages/batch", json={"messages": msgs}).json()["results"]
    after_first = len(sim.state)  # the sends plus the reactions the behaviour model drew for them
    again = call(sim, "POST", "/v1/messages/batch", json={"messages": msgs}).json()["results"]
    assert [r["status"] for r in first] == ["accepted"] * 5
    assert [r["status"] for r in again] == ["duplicate"] * 5
    assert [r["message_id"] for r in first] == [r["message_id"] for r in again]
    counts = requests.get(sim.base_url + "/sim/sends", timeout=10).json()
    assert counts["total"] == 5 and counts["max_per_phone_per_mailing"] == 1
    assert len(sim.state) == after_first
    now = datetime.now(START.tzinfo)
    envs, _ = sim.state.page(now - timedelta(minutes=5), now + timedelta(minutes=5), None, 100, ["sentSMS"], [mailing])
    assert len(envs) == 5


def test_send_refuses_unknown_numbers_and_reused_keys_with_other_content(sim: Any) -> None:
    p = phones(sim)[10]
    res = call(sim, "POST", "/v1/messages/batch", json={"messages": [
        {"idempotency_key": "k-x", "phone": p, "mailing_name": "M_X_20261121090000", "body": "A"},
        {"idempotency_key": "k-x", "phone": p, "mailing_name": "M_X_20261121090000", "body": "B"},
        {"idempotency_key": "k-y", "phone": "+12025550199", "mailing_name": "M_X_20261121090000", "body": "A"},
    ]}).json()["results"]
    assert [r["status"] for r in res] == ["accepted", "rejected", "rejected"]
    assert "different content" in res[1]["reason"] and res[2]["reason"] == "unknown number"
    assert call(sim, "POST", "/v1/messages/batch", json={"messages": []}).status_code == 400
    r = requests.post(sim.base_url + "/v1/messages/batch", json={"messages": []}, timeout=10)
    assert r.status_code == 401
