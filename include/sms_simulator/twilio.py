"""The simulator over Twilio's transport: its facts pushed as signed Event Streams webhooks to the receiver.

``start(sim, workdir)`` runs the package's receiver as a subprocess by its documented command (on
loopback), renders every fact the platform published as Twilio CloudEvents (``twilio_render``), and POSTs
them the way Event Streams does: JSON arrays, signed with ``X-Twilio-Signature`` over the URL with its
``bodySHA256``, in shuffled order, some events twice; some batches first go out with a wrong signature
(refused, then retried as Twilio retries) and a few forged batches are only ever sent badly signed. It
yields the ``sms_platform`` connection (``AIRFLOW_CONN_SMS_PLATFORM``) of the Twilio adapter; facts published
later (a wave's sends and reactions) follow every few seconds until the context exits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from types import TracebackType
from typing import Any

import requests

from .clock import parse_aware, to_us
from .records import Fact
from .server import SimulatorServer
from .twilio_render import (
    ACCOUNT_SID,
    STATUS_SCHEMA,
    STATUS_TYPE,
    PlannedMessage,
    TwilioQuirks,
    TwilioRenderer,
    TwilioRendering,
    deliveries_of,
    service_sid,
    sid,
)

log = logging.getLogger(__name__)
RECEIVER_MODULE = "sms_response.adapters.twilio_receiver"
TOKEN_ENV = "TWILIO_AUTH_TOKEN"
FOLLOW_SECONDS = 5.0
SERVICES_FILE = "mailing_services.json"


def signature(url: str, token: str) -> str:
    """X-Twilio-Signature of a JSON request: HMAC-SHA1 over the full URL (which carries ``bodySHA256``)."""
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(token).compute_signature(url, {}))


class ReceiverProcess:
    """``python -m sms_response.adapters.twilio_receiver`` on 127.0.0.1 with an OS-picked port."""

    def __init__(self, directory: Path, token: str, *, log_path: Path, port: int = 0,
                 max_event_age: timedelta | None = None, extra_args: Sequence[str] = (),
                 startup_timeout: float = 30.0) -> None:
        self.directory, self.log_path, self.port = directory, log_path, port
        self._token, self._max_age, self._timeout = token, max_event_age, startup_timeout
        self._extra_args = list(extra_args)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __repr__(self) -> str:
        return f"ReceiverProcess({self.url or 'not started'!r})"

    def start(self) -> ReceiverProcess:
        cmd = [sys.executable, "-m", RECEIVER_MODULE, "--dir", str(self.directory), "--host", "127.0.0.1",
               "--port", str(self.port)]
        if self._max_age is not None:
            cmd += ["--max-event-age", str(self._max_age.total_seconds())]
        cmd += self._extra_args
        env = {**os.environ, TOKEN_ENV: self._token}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as log_file:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, env=env, text=True)
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = sel.select(self._timeout)
        line = self.proc.stdout.readline() if ready else ""
        if "listening on " not in line:
            self.kill()
            raise RuntimeError(f"Twilio receiver did not start (see {self.log_path}): {line.strip()!r}")
        self.url = line.split("listening on ", 1)[1].split()[0]
        self.port = int(self.url.split(":")[2].split("/")[0])
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing flushed, nothing closed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class Pusher:
    """POSTs CloudEvent batches to the sink as Event Streams does (signed JSON arrays)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self._token = url, token
        self.session = requests.Session()

    def post(self, events: list[dict[str, Any]], *, signed_with: str | None = None) -> requests.Response:
        body = json.dumps(events, separators=(",", ":"), ensure_ascii=False)
        url = f"{self.url}?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
        headers = {"Content-Type": "application/json", "X-Twilio-Signature": signature(url, signed_with or self._token),
                   "I-Twilio-Idempotency-Token": secrets.token_hex(16)}
        return self.session.post(url, data=body.encode(), headers=headers, timeout=30)


@dataclass
class PushReport:
    batches: int = 0
    stored: int = 0
    refused_then_retried: int = 0
    forged: int = 0
    pending: int = 0  # events whose time has not come yet


def forged_events(messages: Sequence[PlannedMessage], rng: Random, n: int) -> list[dict[str, Any]]:
    """Delivered statuses of messages nobody sent, to real phones: what a forger would post."""
    out = []
    for m in rng.sample(list(messages), min(n, len(messages))):
        fake = sid("SM", "forged", m.sid)
        at = datetime.fromtimestamp(m.terminal_us / 1e6, UTC).isoformat(timespec="milliseconds")
        out.append({"specversion": "1.0", "type": STATUS_TYPE + "delivered", "source": f"/{ACCOUNT_SID}",
                    "id": sid("EZ", fake), "dataschema": STATUS_SCHEMA, "datacontenttype": "application/json",
                    "time": at, "data": {"messageSid": fake, "timestamp": at, "accountSid": ACCOUNT_SID,
                                         "from": "+15550000000", "to": m.phone, "messageStatus": "DELIVERED",
                                         "messagingServiceSid": service_sid(m.mailing),
                                         "tags": {"mailingName": m.mailing}}})
    return out


def push(pusher: Pusher, deliveries: list[dict[str, Any]], *, rng: Random, forge_from: Sequence[PlannedMessage] = (),
         batch_size: int = 40, bad_signature_share: float = 0.1, forged_batches: int = 2) -> PushReport:
    """``deliveries`` shuffled, in signed batches (raises unless each is stored); then forged batches."""
    deliveries = list(deliveries)
    rng.shuffle(deliveries)
    report = PushReport()
    for first in range(0, len(deliveries), batch_size):
        batch = deliveries[first:first + batch_size]
        if rng.random() < bad_signature_share:  # refused: Twilio retries the delivery later
            resp = pusher.post(batch, signed_with="not-the-auth-token")
            if resp.status_code != 403:
                raise RuntimeError(f"the receiver accepted a badly signed batch: HTTP {resp.status_code}")
            report.refused_then_retried += 1
        resp = pusher.post(batch)
        if resp.status_code != 200 or resp.json().get("stored") != len(batch):
            raise RuntimeError(f"the receiver did not store a signed batch: HTTP {resp.status_code} {resp.text[:200]}")
        report.batches += 1
        report.stored += len(batch)
    for _ in range(forged_batches if forge_from else 0):
        resp = pusher.post(forged_events(forge_from, rng, 3), signed_with=secrets.token_urlsafe(12))
        if resp.status_code != 403:
            raise RuntimeError(f"the receiver accepted a forged batch: HTTP {resp.status_code}")
        report.forged += 1
    return report


def due_us(event: dict[str, Any]) -> int:
    """When Twilio would push an event: at its own time (CloudEvent time, else the data's timestamp)."""
    data = event.get("data") or {}
    for value in (event.get("time"), data.get("timestamp"), data.get("click_time")):
        if isinstance(value, str):
            return to_us(parse_aware(value.replace("Z", "+00:00")))
    raise ValueError(f"event {event.get('id')} has no time")


class TwilioFeed:
    """Renders and pushes the platform's published facts not pushed yet; keeps the whole rendering (the truth)."""

    def __init__(self, sim: SimulatorServer, pusher: Pusher, services_file: Path,
                 quirks: TwilioQuirks | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.sim, self.pusher, self.services_file = sim, pusher, services_file
        self.clock = clock or (lambda: datetime.now(UTC))  # what "now" is for Twilio: events due by then go out
        self.quirks = quirks or TwilioQuirks()
        self.renderer = TwilioRenderer(self.quirks)
        self.rendering = TwilioRendering()
        self.reports: list[PushReport] = []
        self._done: set[str] = set()
        self._pending: list[tuple[int, dict[str, Any]]] = []  # (due, delivery) not pushed yet
        self._lock = threading.Lock()

    def sync(self) -> PushReport:
        with self._lock:
            new: list[Fact] = [f for f in self.sim.state.published_facts() if f.event.event_id not in self._done]
            part = self.renderer.render(new)
            self._done.update(f.event.event_id for f in new)
            for name in ("events", "messages", "interactions", "not_rendered", "rendered_facts"):
                getattr(self.rendering, name).extend(getattr(part, name))
            self.rendering.deliveries.update(part.deliveries)
            self._write_services({f.event.mailing for f in new})
            # Twilio pushes an event when it happens: what lies ahead (a wave's receipts, replies) waits.
            self._pending += [(due_us(ev), ev) for ev in deliveries_of(part)]
            now = to_us(self.clock())
            due = [ev for at, ev in self._pending if at <= now]
            self._pending = [(at, ev) for at, ev in self._pending if at > now]
            report = push(self.pusher, due, rng=Random(self.quirks.seed + len(self.reports)), forge_from=part.messages)
            report.pending = len(self._pending)
            self.reports.append(report)
            return report

    def _write_services(self, mailings: set[str]) -> None:
        """The sender's record of which messaging service each mailing went through (read by the adapter)."""
        current: dict[str, str] = {}
        if self.services_file.exists():
            current = json.loads(self.services_file.read_text(encoding="utf-8"))
        current.update({service_sid(m): m for m in mailings})
        tmp = self.services_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.services_file)


def connection(events_dir: Path, services_file: Path, sim: SimulatorServer,
               receiver: ReceiverProcess) -> dict[str, Any]:
    """``AIRFLOW_CONN_SMS_PLATFORM`` for the Twilio adapter. Events come from the receiver's files (the receiver
    holds the Auth Token); host, port and password stay the simulator's API when it is serving, so campaign
    waves keep sending through it (the package does not speak Twilio's Messages API)."""
    try:
        host, port = sim.base_url.removeprefix("http://").rsplit(":", 1)
        password = sim.runtime.token
    except RuntimeError:  # not serving: only its published facts were used
        host, port, password = "127.0.0.1", str(receiver.port), ""
    return {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "login": "", "password": password,
            "extra": {"platform": "twilio", "events_dir": str(events_dir),
                      "mailing_services_file": str(services_file), "lookback_hours": 24}}


@dataclass
class TwilioRun:
    """A running receiver, the feed pushing to it, and the connection of the adapter that reads its files."""

    receiver: ReceiverProcess
    feed: TwilioFeed
    connection: dict[str, Any]


@contextmanager
def running(sim: SimulatorServer, workdir: Path, *, quirks: TwilioQuirks | None = None,
            follow_seconds: float | None = FOLLOW_SECONDS, push_ahead: timedelta = timedelta(0)) -> Iterator[TwilioRun]:
    """Run the receiver and push everything ``sim`` published; with ``follow_seconds``, keep pushing what it
    publishes later (tests pass None and call ``feed.sync()`` themselves). ``push_ahead`` pushes events that
    early (and lets the receiver take them): the demo imports a wave's reactions right after it sends."""
    workdir.mkdir(parents=True, exist_ok=True)
    events_dir, services_file = workdir / "twilio-events", workdir / SERVICES_FILE
    token = secrets.token_urlsafe(24)
    oldest = min((f.event.at_us for f in sim.state.published_facts()), default=None)
    # The seeded campaign is history: let the receiver take events as old as it (and refuse older replays).
    age = timedelta(hours=5) if oldest is None else max(
        timedelta(hours=5), datetime.now(UTC) - datetime.fromtimestamp(oldest / 1e6, UTC) + timedelta(days=1))
    skew = ["--max-clock-skew", str((push_ahead + timedelta(minutes=5)).total_seconds())] if push_ahead else []
    with ReceiverProcess(events_dir, token, log_path=workdir / "twilio-receiver.log", max_event_age=age,
                         extra_args=skew) as rec:
        feed = TwilioFeed(sim, Pusher(rec.url, token), services_file, quirks,
                          clock=(lambda: datetime.now(UTC) + push_ahead) if push_ahead else None)
        feed.sync()
        stop = threading.Event()

        def follow(interval: float) -> None:
            while not stop.wait(interval):
                try:
                    feed.sync()
                except (requests.RequestException, RuntimeError) as exc:
                    log.warning("Twilio feed: push failed (%s); retrying in %.0f s", exc, interval)

        follower = None
        if follow_seconds is not None:
            follower = threading.Thread(target=follow, args=(follow_seconds,), name="twilio-feed", daemon=True)
            follower.start()
        try:
            yield TwilioRun(rec, feed, connection(events_dir, services_file, sim, rec))
        finally:
            stop.set()
            if follower is not None:
                follower.join(30)


@contextmanager
def start(sim: SimulatorServer, workdir: Path) -> Iterator[dict[str, Any]]:
    """The receiver on loopback fed with everything ``sim`` publishes; yields ``AIRFLOW_CONN_SMS_PLATFORM``."""
    with running(sim, workdir) as run:
        yield run.connection
