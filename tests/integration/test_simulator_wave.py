"""The platform's side of a campaign wave over real HTTP: seeded reactions to batch sends, short links,
delivery status, the send gate that freezes a batch mid-way, and the wave truth the tests compare against."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from sms_response.events import EventRow, Normaliser, Reject
from sms_response.mapping import load_mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window
from sms_simulator import PlatformState, SimulatorConfig, SimulatorServer, WaveBehaviour, build_state

pytestmark = pytest.mark.integration
TOKEN = "wave-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEND_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MAILING = "SPRING26_Wave2_Reminder_20261201100000"
MAPPING = load_mapping()
RESPONSES = {"click", "reply", "action", "conversion"}


class Clock:
    """A settable simulator clock, so send times (and with them every event time) are reproducible."""

    def __init__(self, at: datetime = SEND_AT) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def new_state(recipients: int = 120) -> PlatformState:
    return build_state(SimulatorConfig(seed=5, recipients=recipients, mailings=1))


def phones(state: PlatformState) -> list[str]:
    return sorted(c.e164 for c in state.contacts() if c.e164)


def message(phone: str, mailing: str = MAILING, **extra: Any) -> dict[str, Any]:
    body = "ShopCo: 20% off this weekend https://sms.shop.example/deal/wk49 Reply STOP to opt out"
    return {"idempotency_key": f"{mailing}:{phone}", "phone": phone, "mailing_name": mailing, "body": body, **extra}


def with_link(phone: str, i: int, **extra: Any) -> dict[str, Any]:
    return message(phone, links=[{"token": f"tk{i:05d}", "url": f"https://shop.example/p/{i}"}], **extra)


def send(sim: SimulatorServer, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = requests.post(f"{sim.base_url}/v1/messages/batch", json={"messages": msgs}, headers=AUTH, timeout=60)
    assert resp.status_code == 200, resp.text
    results: list[dict[str, Any]] = resp.json()["results"]
    return results


def get(sim: SimulatorServer, path: str, **params: str) -> Any:
    resp = requests.get(sim.base_url + path, params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def truth(sim: SimulatorServer, mailing: str = MAILING) -> dict[str, Any]:
    result: dict[str, Any] = get(sim, "/sim/truth/wave", mailing=mailing)
    return result


def fetch(sim: SimulatorServer, mailing: str = MAILING, start: datetime = SEND_AT - timedelta(hours=1),
          end: datetime = SEND_AT + timedelta(days=4)) -> list[dict[str, Any]]:
    """Every envelope of a mailing through the client-facing event API, all pages."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"start": start.isoformat(), "end": end.isoformat(), "mailings": mailing, "limit": "5000"}
        if cursor:
            params["cursor"] = cursor
        resp = requests.get(f"{sim.base_url}/v1/events", params=params, headers=AUTH, timeout=30)
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        out.extend(doc["data"])
        cursor = doc["next_cursor"]
        if cursor is None:
            return out


def imported(envelopes: list[dict[str, Any]], start: datetime = SEND_AT - timedelta(hours=1),
             end: datetime = SEND_AT + timedelta(days=4)) -> list[dict[str, Any]]:
    """The rows the project's importer makes of the envelopes (fails on any reject)."""
    window = Window(start, end)
    norm = Normaliser(MAPPING, window, window.id, PhoneNormaliser("US"))
    rows: list[dict[str, Any]] = []
    for n, env in enumerate(envelopes):
        for item in norm.normalise(env, str(n)):
            assert not isinstance(item, Reject), item
            assert isinstance(item, EventRow)
            cmap = MAPPING.for_code(item.code)
            assert cmap is not None
            row = dict(zip(cmap.copy_columns, item.values, strict=True))
            row["code"], row["at"], row["interaction_type"] = item.code, item.event_time, item.interaction_type
            row["attributes"] = json.loads(row["attributes"])
            rows.append(row)
    return rows


def attrs(envelope: dict[str, Any]) -> dict[str, Any]:
    return {a["name"]: a["value"] for a in envelope["events"][0]["attributes"]}


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(new_state(), token=TOKEN, clock=Clock()) as s:
        yield s


# -- determinism and exactly-once ------------------------------------------------------------------------


def normalised_log(sim: SimulatorServer) -> list[str]:
    """The mailing's envelopes with the (port-dependent) short-link base taken out."""
    return sorted(json.dumps(e, sort_keys=True).replace(sim.base_url, "BASE") for e in fetch(sim))


def test_same_seed_mailing_and_phone_give_identical_events_across_fresh_simulators() -> None:
    logs = []
    for _ in range(2):
        state = new_state()
        targets = phones(state)
        msgs = [with_link(p, i) if i % 2 else message(p) for i, p in enumerate(targets)]
        with SimulatorServer(state, token=TOKEN, clock=Clock(), behaviour=WaveBehaviour(seed=11)) as s:
            assert {r["status"] for r in send(s, msgs)} == {"accepted"}
            logs.append((normalised_log(s), truth(s)))
    assert logs[0] == logs[1]
    events, wave = logs[0]
    assert sum('"interactedSMS"' in e for e in events) > 20 and wave["responders"]
    # Another behaviour seed is another draw of the same mailing.
    state = new_state()
    with SimulatorServer(state, token=TOKEN, clock=Clock(), behaviour=WaveBehaviour(seed=12)) as s:
        send(s, [with_link(p, i) if i % 2 else message(p) for i, p in enumerate(phones(state))])
        assert normalised_log(s) != events


def test_draws_depend_on_mailing_and_phone_not_on_batch_order_or_send_calls() -> None:
    state_a, state_b = new_state(), new_state()
    targets = phones(state_a)
    with (SimulatorServer(state_a, token=TOKEN, clock=Clock()) as a,
          SimulatorServer(state_b, token=TOKEN, clock=Clock()) as b):
        send(a, [message(p) for p in targets])
        for chunk in range(0, len(targets), 7):  # other batches, reversed order
            send(b, [message(p) for p in reversed(targets[chunk:chunk + 7])])
        assert normalised_log(a) == normalised_log(b)
        assert truth(a) == truth(b)


def test_resending_the_same_keys_is_duplicate_and_publishes_nothing(sim: SimulatorServer) -> None:
    msgs = [with_link(p, i, variant="A", campaign_code="SPRING26", message_parts=1)
            for i, p in enumerate(phones(sim.state)[:40])]
    first = send(sim, msgs)
    log_before, records_before, truth_before = normalised_log(sim), len(sim.state), truth(sim)
    again = send(sim, msgs)
    assert [r["status"] for r in first] == ["accepted"] * 40
    assert [r["status"] for r in again] == ["duplicate"] * 40
    assert [r["message_id"] for r in again] == [r["message_id"] for r in first]
    assert len(sim.state) == records_before and normalised_log(sim) == log_before and truth(sim) == truth_before
    ids = [attrs(e)["eventId"] for e in fetch(sim)]
    assert len(ids) == len(set(ids))
    counts = get(sim, "/sim/sends")
    assert counts["total"] == 40 and counts["max_per_phone_per_mailing"] == 1


def test_a_changed_optional_field_under_a_used_key_is_rejected(sim: SimulatorServer) -> None:
    p = phones(sim.state)[0]
    assert send(sim, [with_link(p, 1, variant="A")])[0]["status"] == "accepted"
    assert send(sim, [with_link(p, 1, variant="A")])[0]["status"] == "duplicate"
    for changed in (with_link(p, 1, variant="B"), with_link(p, 2, variant="A"), message(p, variant="A")):
        res = send(sim, [changed])[0]
        assert res["status"] == "rejected" and "different content" in res["reason"]
    # A link token belongs to one message.
    other = send(sim, [with_link(phones(sim.state)[1], 1)])[0]
    assert other["status"] == "rejected" and "tk00001" in other["reason"]


@pytest.mark.parametrize("bad", [
    {"links": [{"token": "a/b", "url": "https://x.example/"}]},
    {"links": [{"token": "ok", "url": "ftp://x.example/"}]},
    {"links": "https://x.example/"},
    {"message_parts": 0},
    {"variant": 3},
])
def test_malformed_optional_fields_are_400_and_nothing_is_sent(sim: SimulatorServer, bad: dict[str, Any]) -> None:
    p0, p1 = phones(sim.state)[:2]
    body = {"messages": [message(p0), message(p1, **bad)]}
    resp = requests.post(f"{sim.base_url}/v1/messages/batch", json=body, headers=AUTH, timeout=10)
    assert resp.status_code == 400
    assert get(sim, "/sim/sends")["total"] == 0


# -- short links ---------------------------------------------------------------------------------------------


def test_short_link_redirects_and_publishes_an_importable_click() -> None:
    clock = Clock()
    with SimulatorServer(new_state(), token=TOKEN, clock=clock) as sim:
        check_short_link(sim, clock)


def check_short_link(sim: SimulatorServer, clock: Clock) -> None:
    p = phones(sim.state)[3]
    message_id = send(sim, [with_link(p, 7)])[0]["message_id"]
    clock.at = SEND_AT + timedelta(minutes=3)
    resp = requests.get(f"{sim.base_url}/r/tk00007", allow_redirects=False, timeout=10)
    assert resp.status_code == 302 and resp.headers["location"] == "https://shop.example/p/7"
    assert requests.get(f"{sim.base_url}/r/nope", allow_redirects=False, timeout=10).status_code == 404
    hits = [e for e in fetch(sim) if attrs(e)["eventId"] == f"{message_id}-click-r0"]
    assert len(hits) == 1
    (row,) = imported(hits)
    assert row["code"] == "interactedSMS" and row["interaction_type"] == "click" and row["phone_e164"] == p
    assert row["mailing_name"] == MAILING and row["link_token"] == "tk00007"
    assert row["url"] == f"{sim.base_url}/r/tk00007"
    assert row["at"] == SEND_AT + timedelta(minutes=3)
    assert p in truth(sim)["clicked_phones"] and p in truth(sim)["responders"]


def test_model_clicks_use_the_short_link_form_or_the_body_url() -> None:
    state = new_state()
    targets = phones(state)
    behaviour = WaveBehaviour(click_rate=1.0, conversion_rate=1.0, opt_out_rate=0.0, failure_rate=0.0)
    with SimulatorServer(state, token=TOKEN, clock=Clock(), behaviour=behaviour) as s:
        linked = {p: i for i, p in enumerate(targets[:30])}
        send(s, [with_link(p, i) for p, i in linked.items()] + [message(p) for p in targets[30:60]])
        rows = [r for r in imported(fetch(s)) if r["interaction_type"] in ("click", "conversion")]
        base = s.base_url
    assert {r["phone_e164"] for r in rows} == set(targets[:60])
    for r in rows:
        if r["phone_e164"] in linked:
            token = f"tk{linked[r['phone_e164']]:05d}"
            assert r["url"] == f"{base}/r/{token}" and r["link_token"] == token
        else:
            assert r["url"] == "https://sms.shop.example/deal/wk49" and r["link_token"] == "wk49"
        assert r["at"] > SEND_AT
    assert all(r["conversion_value"] is None or r["conversion_value"] > 0 for r in rows)


# -- delivery status -----------------------------------------------------------------------------------------


def test_status_endpoint_reports_each_message_like_its_sent_event(sim: SimulatorServer) -> None:
    results = send(sim, [message(p) for p in phones(sim.state)])
    ids = [r["message_id"] for r in results]
    resp = requests.post(f"{sim.base_url}/v1/messages/status", json={"message_ids": [*ids, "m-unknown"]},
                         headers=AUTH, timeout=10)
    assert resp.status_code == 200
    statuses = resp.json()["statuses"]
    assert statuses["m-unknown"] == {"status": "unknown", "status_code": None, "phone": None, "mailing_name": None}
    sent = {r["event_id"]: r for r in imported(fetch(sim)) if r["code"] == "sentSMS"}
    for mid in ids:
        st, row = statuses[mid], sent[f"sent-{mid}"]
        assert (st["status"], st["status_code"], st["phone"]) == (row["delivery_status"], row["status_code"],
                                                                  row["phone_e164"])
        assert st["mailing_name"] == MAILING
    failed = [s for s in statuses.values() if s["status"] == "failed"]
    assert failed and all(s["status_code"] == 30006 for s in failed)
    assert sorted(s["phone"] for s in failed) == truth(sim)["failed_phones"]
    assert requests.post(f"{sim.base_url}/v1/messages/status", json={"message_ids": ids}, timeout=10).status_code == 401
    bad = requests.post(f"{sim.base_url}/v1/messages/status", json={"message_ids": "x"}, headers=AUTH, timeout=10)
    assert bad.status_code == 400


# -- send gate -----------------------------------------------------------------------------------------------


def gate(sim: SimulatorServer) -> dict[str, Any]:
    result: dict[str, Any] = get(sim, "/sim/send-gate")
    return result


def post_gate(sim: SimulatorServer, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{sim.base_url}/sim/send-gate", json=body, timeout=10)


def test_gate_holds_a_batch_mid_way_and_the_rest_is_accepted_after_release(sim: SimulatorServer) -> None:
    msgs = [message(p) for p in phones(sim.state)[:10]]
    assert post_gate(sim, {"block_after": 4}).json() == {"armed": True, "blocked": False, "accepted_since_armed": 0}
    box: dict[str, Any] = {}
    client = threading.Thread(target=lambda: box.update(results=send(sim, msgs)))
    client.start()
    try:
        wait_until(lambda: gate(sim)["blocked"], "the gate to hold the batch")
        # The server keeps answering while a batch is held.
        assert gate(sim) == {"armed": True, "blocked": True, "accepted_since_armed": 4}
        assert get(sim, "/sim/sends")["total"] == 4
        assert get(sim, "/healthz") == {"ok": True}
        assert post_gate(sim, {"block_after": 1}).status_code == 400  # cannot re-arm while holding
    finally:
        release = post_gate(sim, {"release": True})
    client.join(30)
    assert release.json() == {"armed": False, "blocked": False, "accepted_since_armed": 4}
    assert [r["status"] for r in box["results"]] == ["accepted"] * 10
    assert get(sim, "/sim/sends")["total"] == 10
    # Disarmed: the next batch goes straight through.
    assert send(sim, [message(phones(sim.state)[20])])[0]["status"] == "accepted"


def raw_post(sim: SimulatorServer, path: str, body: dict[str, Any]) -> socket.socket:
    """Send a request and leave the response unread, like a client about to die."""
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=10)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{sim.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
    sock.sendall(head.encode() + payload)
    return sock


def test_client_killed_mid_batch_then_resend_keeps_one_send_per_phone(sim: SimulatorServer) -> None:
    targets = phones(sim.state)[:25]
    msgs = [with_link(p, i) for i, p in enumerate(targets)]
    post_gate(sim, {"block_after": 9})
    sock = raw_post(sim, "/v1/messages/batch", {"messages": msgs})
    wait_until(lambda: gate(sim)["blocked"], "the gate to hold the batch")
    sock.close()  # the client dies; the platform has accepted 9 messages
    assert get(sim, "/sim/sends")["total"] == 9
    post_gate(sim, {"release": True})
    # The platform finishes the request it was working on even though nobody reads the answer.
    wait_until(lambda: get(sim, "/sim/sends")["total"] == 25, "the held batch to finish")
    # The resumed client resends everything under the same keys.
    assert [r["status"] for r in send(sim, msgs)] == ["duplicate"] * 25
    counts = get(sim, "/sim/sends")
    assert counts["total"] == 25 and counts["max_per_phone_per_mailing"] == 1
    assert set(counts["by_mailing_phone"]) == {f"{MAILING}|{p}" for p in targets}
    sent = [r for r in imported(fetch(sim)) if r["code"] == "sentSMS"]
    assert sorted(r["phone_e164"] for r in sent) == targets


def test_gate_armed_from_python_holds_a_send_until_released(sim: SimulatorServer) -> None:
    push = sim.push
    assert push.send_gate.arm(0)["armed"]
    box: dict[str, Any] = {}
    client = threading.Thread(target=lambda: box.update(results=send(sim, [message(phones(sim.state)[0])])))
    client.start()
    assert push.send_gate.wait_blocked(20)
    assert push.send_gate.status() == {"armed": True, "blocked": True, "accepted_since_armed": 0}
    assert get(sim, "/sim/sends")["total"] == 0
    push.send_gate.release()
    client.join(30)
    assert box["results"][0]["status"] == "accepted"
    assert post_gate(sim, {}).status_code == 400
    assert post_gate(sim, {"block_after": -1}).status_code == 400


def test_stopping_the_server_releases_a_held_batch() -> None:
    sim = SimulatorServer(new_state(), token=TOKEN, clock=Clock())
    sim.start()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            send(sim, [message(p) for p in phones(sim.state)[:3]])
        except (requests.RequestException, AssertionError) as exc:  # the server may go away first
            errors.append(exc)

    try:
        sim.push.send_gate.arm(1)
        thread = threading.Thread(target=client)
        thread.start()
        assert sim.push.send_gate.wait_blocked(20)
    finally:
        sim.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert sim.push.send_counts()["total"] == 3


# -- truth -------------------------------------------------------------------------------------------------------


def test_wave_truth_matches_the_imported_events() -> None:
    state = new_state(400)
    targets = phones(state)
    behaviour = WaveBehaviour(opt_out_rate=0.15, reply_rate=0.2, action_rate=0.1, failure_rate=0.1)
    with SimulatorServer(state, token=TOKEN, clock=Clock(), behaviour=behaviour) as s:
        send(s, [with_link(p, i, variant="AB"[i % 2]) for i, p in enumerate(targets)])
        t = truth(s)
        rows = imported(fetch(s))
    sent = [r for r in rows if r["code"] == "sentSMS"]
    acts = [r for r in rows if r["code"] == "interactedSMS"]
    delivered = {r["phone_e164"] for r in sent if r["delivery_status"] == "delivered"}
    failed = {r["phone_e164"] for r in sent if r["delivery_status"] == "failed"}
    assert t["sent"] == len(sent) == 400
    assert (t["delivered"], t["failed"]) == (len(delivered), len(failed))
    assert t["delivered_phones"] == sorted(delivered) and t["failed_phones"] == sorted(failed)
    assert 0.05 < len(failed) / 400 < 0.16
    assert all(r["phone_e164"] in delivered for r in acts)
    assert t["clicked_phones"] == sorted({r["phone_e164"] for r in acts if r["interaction_type"] == "click"})
    # The importer turns STOP replies into opt_out.
    opt_out_at = {r["phone_e164"]: r["at"] for r in acts if r["interaction_type"] == "opt_out"}
    assert t["opted_out_phones"] == sorted(opt_out_at)
    responders = {
        r["phone_e164"] for r in acts
        if r["interaction_type"] in RESPONSES and SEND_AT <= r["at"] < SEND_AT + timedelta(hours=72)
        and r["at"] < opt_out_at.get(r["phone_e164"], datetime.max.replace(tzinfo=UTC))
    }
    assert t["responders"] == sorted(responders)
    assert t["non_responders"] == sorted(delivered - responders - set(opt_out_at))
    assert len(t["responders"]) > 100 and len(t["non_responders"]) > 100 and len(opt_out_at) > 20
    replies = [r for r in acts if r["reply_text"] is not None]
    assert any(r["interaction_type"] == "reply" for r in replies)
    assert any(r["interaction_type"] == "opt_out" and r["reply_text"].rstrip(".").upper() in {
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE"} for r in replies)
    variant_of = {p: "AB"[i % 2] for i, p in enumerate(targets)}
    for v in "AB":
        mine = {p for p, pv in variant_of.items() if pv == v}
        clicked = mine & set(t["clicked_phones"])
        converted = mine & {r["phone_e164"] for r in acts if r["interaction_type"] == "conversion"}
        assert t["variants"][v] == {"sent": 200, "delivered": len(mine & delivered), "clicked": len(clicked),
                                    "converted": len(converted)}
    # Response delays: at least 5 s after the send, mostly within the cap (follow-ups are delayed from the click).
    delays = [(r["at"] - SEND_AT).total_seconds() for r in acts]
    assert min(delays) >= 5 and 300 < sorted(delays)[len(delays) // 2] < 1200


def test_truth_needs_a_mailing_and_is_empty_for_an_unknown_one(sim: SimulatorServer) -> None:
    assert requests.get(f"{sim.base_url}/sim/truth/wave", timeout=10).status_code == 400
    t = truth(sim, "NOPE")
    assert t["sent"] == 0 and t["responders"] == [] and t["variants"] == {}


def test_variant_lift_raises_the_click_rate() -> None:
    state = new_state(2400)
    targets = phones(state)
    assert len(targets) >= 2000
    behaviour = WaveBehaviour(variant_lift={"B": 2.0}, seed=3)
    with SimulatorServer(state, token=TOKEN, clock=Clock(), behaviour=behaviour) as s:
        send(s, [message(p, variant="AB"[i % 2]) for i, p in enumerate(targets)])
        variants = truth(s)["variants"]
    rate = {v: c["clicked"] / c["delivered"] for v, c in variants.items()}
    assert 0.25 < rate["A"] < 0.35 and 0.54 < rate["B"] < 0.66, rate
    assert variants["B"]["converted"] > 1.5 * variants["A"]["converted"]


def test_lift_is_capped() -> None:
    assert WaveBehaviour(variant_lift={"x": 10.0}).click_rate_for("x") == 0.95
    assert WaveBehaviour(variant_lift={"x": 10.0}).click_rate_for("y") == 0.30
    assert WaveBehaviour().click_rate_for(None) == 0.30


# -- opt-outs --------------------------------------------------------------------------------------------------------


def test_an_opted_out_phone_does_nothing_after_its_opt_out() -> None:
    state = new_state(200)
    targets = phones(state)
    clock = Clock()
    eager = WaveBehaviour(click_rate=1.0, repeat_click_rate=1.0, conversion_rate=1.0, reply_rate=1.0,
                          action_rate=1.0, opt_out_rate=0.5, failure_rate=0.0)
    with SimulatorServer(state, token=TOKEN, clock=clock, behaviour=eager) as s:
        send(s, [with_link(p, i) for i, p in enumerate(targets)])
        first = imported(fetch(s))
        # A later mailing to the same phones: those who opted out stay silent.
        clock.at = SEND_AT + timedelta(days=1)
        later = "SPRING26_Wave3_LastChance_20261202100000"
        send(s, [message(p, mailing=later) for p in targets])
        second = imported(fetch(s, later, end=SEND_AT + timedelta(days=5)), end=SEND_AT + timedelta(days=5))
        t1, t2 = truth(s), truth(s, later)
    opt_out_at = {r["phone_e164"]: r["at"] for r in first if r["interaction_type"] == "opt_out"}
    assert 60 < len(opt_out_at) < 140
    for r in first:
        if r["code"] == "interactedSMS" and r["phone_e164"] in opt_out_at:
            assert r["at"] <= opt_out_at[r["phone_e164"]], r
    # Everything drawn after the opt-out is gone, so opted-out phones show fewer interactions.
    per_phone = {p: sum(r["phone_e164"] == p and r["code"] == "interactedSMS" for r in first) for p in targets}
    assert min(per_phone[p] for p in targets if p not in opt_out_at) == 5  # click x2, conversion, reply, action
    assert any(per_phone[p] < 5 for p in opt_out_at)
    silent = {r["phone_e164"] for r in second if r["code"] == "interactedSMS"}
    assert not silent & set(opt_out_at) and len(silent) > 50
    assert t2["delivered"] == 200 and set(t2["non_responders"]) >= set(opt_out_at)
    assert set(t1["opted_out_phones"]) == set(opt_out_at) and not set(t1["non_responders"]) & set(opt_out_at)


# -- holdouts and the metrics truth ----------------------------------------------------------------------------------


HOLDOUT_BEHAVIOUR = WaveBehaviour(holdout_conversion_rate=0.3, holdout_reply_rate=0.2)


def register(sim: SimulatorServer, members: list[str], mailing: str = MAILING) -> requests.Response:
    return requests.post(f"{sim.base_url}/sim/holdout", json={"mailing": mailing, "phones": members}, timeout=10)


def test_holdout_members_convert_and_reply_from_the_waves_start_and_texted_reactions_do_not_change() -> None:
    logs, holdout_rows = [], []
    for with_holdout in (False, True):
        state = new_state(400)
        targets = phones(state)
        with SimulatorServer(state, token=TOKEN, clock=Clock(), behaviour=HOLDOUT_BEHAVIOUR) as s:
            if with_holdout:  # told before the wave starts: the members react from its first message on
                before = register(s, targets[300:]).json()
                assert (before["registered"], before["started"], before["events"]) == (100, False, 0)
            send(s, [with_link(p, i) for i, p in enumerate(targets[:300])])
            if with_holdout:
                again = register(s, targets[300:]).json()
                assert (again["registered"], again["holdout"], again["events"]) == (0, 100, 0)
                assert get(s, "/sim/holdout", mailing=MAILING)["phones"] == targets[300:]
            envelopes = fetch(s)
            logs.append(sorted(json.dumps(e, sort_keys=True).replace(s.base_url, "BASE") for e in envelopes
                               if not attrs(e)["eventId"].startswith("holdout-")))
            holdout_rows = [r for r in imported(envelopes) if r["phone_e164"] in set(targets[300:])]
    assert logs[0] == logs[1]  # texted recipients' reactions are the same with or without a holdout
    kinds = [r["interaction_type"] for r in holdout_rows]
    assert set(kinds) == {"conversion", "reply"} and 15 < kinds.count("conversion") < 45 and 8 < kinds.count("reply")
    assert all(r["mailing_name"] == MAILING and r["at"] > SEND_AT for r in holdout_rows)
    for r in holdout_rows:
        if r["interaction_type"] == "conversion":
            assert r["conversion_value"] > 0 and r["link_token"] is None and r["url"] == "https://shop.example/checkout"
        else:
            assert r["reply_text"] and r["keyword"]


def test_a_holdout_told_after_the_fact_is_published_then_with_its_own_event_times() -> None:
    clock = Clock()
    state = new_state()
    targets = phones(state)
    with SimulatorServer(state, token=TOKEN, clock=clock, behaviour=HOLDOUT_BEHAVIOUR) as s:
        send(s, [message(p) for p in targets[:80]])
        clock.at = SEND_AT + timedelta(hours=2)  # later than any holdout reaction (delays are capped at 50 min)
        told = register(s, targets[80:]).json()
        assert told["started"] and told["events"] > 0
        assert register(s, [targets[0]]).status_code == 400  # a texted phone cannot be in the holdout
        assert register(s, ["call me"]).status_code == 400
        early = [e for e in fetch(s, end=clock.at) if attrs(e)["eventId"].startswith("holdout-")]
        late = [e for e in fetch(s, start=clock.at) if attrs(e)["eventId"].startswith("holdout-")]
    assert early == [] and len(late) == told["events"]
    assert all(SEND_AT < r["at"] < SEND_AT + timedelta(hours=1) for r in imported(late, start=clock.at))


def test_metrics_truth_counts_published_events_per_group_up_to_until() -> None:
    state = new_state(200)
    targets = phones(state)
    with SimulatorServer(state, token=TOKEN, clock=Clock(), behaviour=HOLDOUT_BEHAVIOUR) as s:
        send(s, [with_link(p, i, variant="AB"[i % 2], message_parts=2) for i, p in enumerate(targets[:160])])
        register(s, targets[160:])
        rows = imported(fetch(s))
        later = get(s, "/sim/truth/metrics", mailing=MAILING, price_gsm7="0.5",
                    until=(SEND_AT + timedelta(days=4)).isoformat())
        everything = get(s, "/sim/truth/metrics")
        before = get(s, "/sim/truth/metrics", mailing=MAILING, until=SEND_AT.isoformat())
        assert requests.get(f"{s.base_url}/sim/truth/metrics", params={"until": "2026-12-01T10:00:00"},
                            timeout=10).status_code == 400
    m = later["mailings"][MAILING]
    assert list(later["mailings"]) == [MAILING] and list(later["campaigns"]) == ["SPRING26"]
    whole = everything["mailings"][MAILING]  # every mailing, default prices (1 credit per part)
    assert {k: v for k, v in whole.items() if "credits" not in k and "cost" not in k} == {
        k: v for k, v in m.items() if "credits" not in k and "cost" not in k}
    assert whole["credits"] == "320" and "SPRING26_Wave1_Offer_20261120090000" in everything["mailings"]
    sent = [r for r in rows if r["code"] == "sentSMS"]
    texted = {r["phone_e164"] for r in sent}  # the mailing's figures are its recipients' (the holdout's are not)
    conversions = [r for r in rows if r["interaction_type"] == "conversion" and r["phone_e164"] in texted]
    assert (m["sent"], m["parts"], m["credits"]) == (160, 320, "160.0")
    assert (m["conversions"], m["converters"]) == (len(conversions), len({r["phone_e164"] for r in conversions}))
    assert m["delivered_recipients"] == len({r["phone_e164"] for r in sent if r["delivery_status"] == "delivered"})
    groups = {v["variant_group"]: v for v in m["variants"]}
    assert {g: (v["assigned"], v["sent"]) for g, v in groups.items()} == {"A": (80, 80), "B": (80, 80),
                                                                          "holdout": (40, 0)}
    assert groups["holdout"]["converters"] > 0 and groups["holdout"]["responders"] == 0
    assert [x["outcome"] for x in m["lift"]] == ["response", "conversion"]
    assert before["mailings"][MAILING]["sent"] == 0 and before["campaigns"] == {}


# -- runtime config ----------------------------------------------------------------------------------------------


def test_wave_behaviour_is_configurable_at_run_time(sim: SimulatorServer) -> None:
    url = f"{sim.base_url}/sim/config"
    assert requests.get(url, timeout=10).json()["wave"] == WaveBehaviour().to_json()
    resp = requests.post(url, json={"wave": {"click_rate": 1, "opt_out_rate": 0, "variant_lift": {"B": 1.5}}, "rate_429": 0.0}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["wave"]["click_rate"] == 1.0 and resp.json()["wave"]["variant_lift"] == {"B": 1.5}
    assert sim.push.behaviour.click_rate == 1.0
    bad: dict[str, Any]
    for bad in ({"wave": {"click_rate": 2}}, {"wave": {"bogus": 1}}, {"wave": {"seed": 1.5}}, {"wave": []},
                {"wave": {"click_rate": 0.5}, "bogus": 1}, {"wave": {"variant_lift": {"B": -1}}}):
        assert requests.post(url, json=bad, timeout=10).status_code == 400, bad
    assert sim.push.behaviour.click_rate == 1.0  # a refused update changes nothing
    send(sim, [message(p) for p in phones(sim.state)[:30]])
    t = truth(sim)
    assert t["clicked_phones"] == t["delivered_phones"]
