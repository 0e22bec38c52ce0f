"""The Twilio receiver as it runs: a subprocess started by its documented command, real HTTP on loopback,
requests signed as Twilio signs JSON webhooks; what it files is read back through the adapter."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from sms_response.adapters import PlatformConnection
from sms_response.adapters.twilio import source_from_connection
from sms_response.window import Window
from sms_simulator.twilio import Pusher, ReceiverProcess, signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
MG = "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def fresh(name: str, at: datetime) -> list[dict[str, Any]]:
    """A fixture's events re-timed to ``at`` (+ their order in the file, in seconds): the receiver takes live ones."""
    events: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    for i, e in enumerate(events):
        stamp = (at + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if "time" in e:
            e["time"] = stamp
        for key in ("timestamp", "click_time"):
            if key in e["data"]:
                e["data"][key] = stamp
    return events


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def receiver(tmp_path: Path, token: str) -> Iterator[ReceiverProcess]:
    with ReceiverProcess(tmp_path / "events", token, log_path=tmp_path / "receiver.log") as rec:
        yield rec


def stored_files(rec: ReceiverProcess) -> list[Path]:
    return sorted(rec.directory.rglob("*.jsonl")) if rec.directory.exists() else []


def window_records(directory: Path, at: datetime) -> list[Any]:
    hour = at.replace(minute=0, second=0, microsecond=0)
    src = source_from_connection(PlatformConnection("twilio", "", extra={
        "events_dir": str(directory), "mailing_services": {MG: "SPRING26_Live_20261203000000"}}))
    return [r for p in src.pages(Window(hour - timedelta(hours=1), hour + timedelta(hours=1))) for r in p.envelopes]


def post_raw(rec: ReceiverProcess, url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=10)


def test_signed_batches_are_stored_and_read_back_as_a_windows_records(receiver: ReceiverProcess, token: str) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    pusher = Pusher(receiver.url, token)
    for name in ("delivered_out_of_order", "inbound_messages", "link_clicked"):
        resp = pusher.post(fresh(name, now))
        assert resp.status_code == 200, resp.text
    recs = window_records(receiver.directory, now)
    codes = sorted(r["events"][0]["code"] for r in recs)
    assert codes == ["interactedSMS"] * 4 + ["sentSMS"]
    assert token not in receiver.log_path.read_text(encoding="utf-8")


def test_a_bad_signature_is_refused_with_a_clear_log_line_and_nothing_stored(
    receiver: ReceiverProcess, token: str
) -> None:
    resp = Pusher(receiver.url, token).post(fresh("link_clicked", datetime.now(UTC)), signed_with="an-old-token")
    assert resp.status_code == 403
    log = receiver.log_path.read_text(encoding="utf-8")
    assert "refused POST /events from 127.0.0.1: HTTP 403, X-Twilio-Signature does not match" in log
    assert "nothing stored" in log and token not in log
    assert stored_files(receiver) == []


def test_unsigned_unhashed_tampered_and_non_cloudevent_requests_are_refused(
    receiver: ReceiverProcess, token: str
) -> None:
    body = json.dumps(fresh("link_clicked", datetime.now(UTC))).encode()
    url = f"{receiver.url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    assert post_raw(receiver, url, body, {}).status_code == 401  # no X-Twilio-Signature
    # Signed, but over a URL without the body's hash: the body itself would be unsigned.
    assert post_raw(receiver, receiver.url, body, {"X-Twilio-Signature": signature(receiver.url, token)}).status_code \
        == 403
    # Signed for this body, then changed on the way.
    tampered = body.replace(b"wave1", b"wave9")
    assert post_raw(receiver, url, tampered, {"X-Twilio-Signature": signature(url, token)}).status_code == 403
    # Correctly signed, but not CloudEvents.
    other = b'[{"hello": "world"}]'
    other_url = f"{receiver.url}?bodySHA256={hashlib.sha256(other).hexdigest()}"
    assert post_raw(receiver, other_url, other, {"X-Twilio-Signature": signature(other_url, token)}).status_code == 400
    log = receiver.log_path.read_text(encoding="utf-8")
    for reason in ("HTTP 401, no X-Twilio-Signature header", "has no bodySHA256 parameter",
                   "HTTP 403, X-Twilio-Signature does not match", "HTTP 400, event #0 is not a CloudEvent"):
        assert reason in log
    assert stored_files(receiver) == []


def test_stale_and_future_events_are_refused_as_replays(receiver: ReceiverProcess, token: str) -> None:
    pusher = Pusher(receiver.url, token)
    old = pusher.post(fresh("link_clicked", datetime.now(UTC) - timedelta(hours=6)))
    ahead = pusher.post(fresh("link_clicked", datetime.now(UTC) + timedelta(hours=1)))
    assert (old.status_code, ahead.status_code) == (422, 422)
    log = receiver.log_path.read_text(encoding="utf-8")
    assert "HTTP 422, stale: event EZc5d6e7f8091a2b3c4d5e6f708192a3b4 has time" in log
    assert "older than 5:00:00 (a replay" in log and "in the future" in log
    assert stored_files(receiver) == []


def test_acknowledged_events_survive_a_kill_and_a_restart(receiver: ReceiverProcess, token: str) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    pusher = Pusher(receiver.url, token)
    acknowledged = 0
    for name in ("delivered_out_of_order", "undelivered_string_error_code", "inbound_messages"):
        resp = pusher.post(fresh(name, now))
        assert resp.status_code == 200
        acknowledged += resp.json()["stored"]
    receiver.kill()  # SIGKILL right after the acknowledgements: nothing flushed or closed on the way out
    with pytest.raises(requests.ConnectionError):
        pusher.post(fresh("link_clicked", now))
    receiver.start()  # the same command, directory and port
    assert pusher.post(fresh("link_clicked", now)).status_code == 200
    lines = [json.loads(line) for p in stored_files(receiver) for line in p.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == acknowledged + 1
    recs = window_records(receiver.directory, now)
    assert sorted(r["events"][0]["code"] for r in recs) == ["interactedSMS"] * 4 + ["sentSMS"] * 2


def test_a_write_cut_short_by_a_crash_is_repaired_when_the_receiver_starts(
    tmp_path: Path, token: str
) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    directory = tmp_path / "events"
    with ReceiverProcess(directory, token, log_path=tmp_path / "receiver.log") as rec:
        assert Pusher(rec.url, token).post(fresh("link_clicked", now)).status_code == 200
    [path] = sorted(directory.rglob("*.jsonl"))
    with open(path, "ab") as fh:
        fh.write(b'{"event": {"type": "com.twilio.daptbt.link-shortening.link-clic')  # never acknowledged
    with ReceiverProcess(directory, token, log_path=tmp_path / "receiver.log") as rec:
        assert Pusher(rec.url, token).post(fresh("inbound_messages", now)).status_code == 200
    assert "ended in an unfinished line" in (tmp_path / "receiver.log").read_text(encoding="utf-8")
    recs = window_records(directory, now)
    assert len(recs) == 4 and all("events" in r for r in recs)  # nothing quarantined: the torn write is gone


def test_signatures_are_checked_against_the_public_url_twilio_was_given(tmp_path: Path, token: str) -> None:
    public = "https://hooks.example.com/twilio/events"
    with ReceiverProcess(tmp_path / "events", token, log_path=tmp_path / "receiver.log",
                         extra_args=["--public-url", public]) as rec:
        body = json.dumps(fresh("link_clicked", datetime.now(UTC))).encode()
        query = f"?bodySHA256={hashlib.sha256(body).hexdigest()}"
        signed_public = post_raw(rec, rec.url + query, body, {"X-Twilio-Signature": signature(public + query, token)})
        signed_local = post_raw(rec, rec.url + query, body, {"X-Twilio-Signature": signature(rec.url + query, token)})
        assert (signed_public.status_code, signed_local.status_code) == (200, 403)


def test_the_receiver_will_not_start_without_the_auth_token(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="Twilio receiver did not start"):
        ReceiverProcess(tmp_path / "events", "", log_path=tmp_path / "receiver.log").start()
    assert "set TWILIO_AUTH_TOKEN" in (tmp_path / "receiver.log").read_text(encoding="utf-8")
