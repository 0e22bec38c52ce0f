"""The Twilio Event Streams webhook sink: verifies each request and files its events durably.

Start it with one command (the Auth Token comes from the environment, never from the command line)::

    TWILIO_AUTH_TOKEN=… python -m sms_response.adapters.twilio_receiver --dir /data/twilio-events \\
        --host 0.0.0.0 --port 8787 --public-url https://hooks.example.com/twilio/events

and point the Event Streams webhook sink at ``--public-url`` (the URL Twilio signs). Each ``POST`` body is a
JSON array of CloudEvents. A request is refused (4xx, one log line saying why, nothing stored) when it has
no ``X-Twilio-Signature``, when its URL carries no ``bodySHA256`` (its JSON body would be unsigned), when
the signature or body hash do not match (HMAC-SHA1 with the Auth Token over the full URL, checked with
Twilio's own ``RequestValidator``), when the body is not CloudEvents, or when it is stale: an event older
than ``--max-event-age`` (Twilio retries a delivery for up to four hours, so an older one is a replay) or
further than ``--max-clock-skew`` in the future. Accepted events are appended to hourly partition files
(``twilio_store``) and ``fsync``ed before the 200, so an acknowledged event survives a crash or ``kill -9``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sms_response.adapters.twilio_store import PartitionWriter, event_time, iso_z, stored_line

log = logging.getLogger("sms_response.twilio_receiver")

TOKEN_ENV = "TWILIO_AUTH_TOKEN"
SIGNATURE_HEADER = "x-twilio-signature"
DEFAULT_PORT = 8787
DEFAULT_PATH = "/events"
# Event Streams retries a failed delivery for up to four hours; one hour more for queues and clocks.
DEFAULT_MAX_EVENT_AGE = timedelta(hours=5)
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ReceiverConfig:
    directory: Path
    token: str
    path: str = DEFAULT_PATH
    public_url: str | None = None  # the sink URL as configured in Twilio, when a proxy changes what we see
    max_event_age: timedelta = DEFAULT_MAX_EVENT_AGE
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW

    def __repr__(self) -> str:  # never show the token
        return f"ReceiverConfig(directory={str(self.directory)!r}, path={self.path!r})"


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signed_url(request: Request, config: ReceiverConfig) -> str:
    """The URL Twilio computed the signature over: the public sink URL (if given) plus the query as sent."""
    query = request.url.query
    base = config.public_url.split("?", 1)[0] if config.public_url else str(request.url.replace(query=""))
    return f"{base.rstrip('?')}?{query}" if query else base.rstrip("?")


def verify_signature(url: str, body: str, signature: str | None, token: str) -> None:
    """Raise ``Refused`` unless ``signature`` is Twilio's for ``url`` and the body matches its ``bodySHA256``."""
    from twilio.request_validator import RequestValidator

    if not signature:
        raise Refused(401, "no X-Twilio-Signature header")
    query = parse_qs(url.partition("?")[2])
    if "bodySHA256" not in query:
        raise Refused(403, "the signed URL has no bodySHA256 parameter, so the JSON body would be unsigned")
    if not RequestValidator(token).validate(url, body, signature):
        raise Refused(403, "X-Twilio-Signature does not match the URL and body (wrong Auth Token, URL or "
                           "a modified body)")


def parse_events(body: str) -> list[dict[str, Any]]:
    """The CloudEvents of a body: a JSON array of objects (one object alone is accepted too)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise Refused(400, f"body is not JSON ({exc.__class__.__name__})") from None
    events = doc if isinstance(doc, list) else [doc]
    if not events:
        raise Refused(400, "body is an empty array")
    for i, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event.get("id"):
            raise Refused(400, f"event #{i} is not a CloudEvent (needs type and id)")
    return events


def check_fresh(events: Sequence[dict[str, Any]], now: datetime, config: ReceiverConfig) -> None:
    for event in events:
        at, source = event_time(event, now)
        if at < now - config.max_event_age:
            raise Refused(422, f"stale: event {str(event.get('id'))[:40]} has {source} {iso_z(at)}, older than "
                               f"{config.max_event_age} (a replay: Twilio retries for at most four hours)")
        if at > now + config.max_clock_skew:
            raise Refused(422, f"stale: event {str(event.get('id'))[:40]} has {source} {iso_z(at)}, more than "
                               f"{config.max_clock_skew} in the future")


def create_app(config: ReceiverConfig, clock: Callable[[], datetime] | None = None) -> Starlette:
    writer = PartitionWriter(config.directory)
    now = clock or (lambda: datetime.now(UTC))

    async def receive(request: Request) -> JSONResponse:
        peer = request.client.host if request.client else "?"
        try:
            declared = request.headers.get("content-length", "0")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before it is read
                raise Refused(413, f"body of {declared} bytes is larger than {MAX_BODY_BYTES}")
            raw = await request.body()
            if len(raw) > MAX_BODY_BYTES:
                raise Refused(413, f"body of {len(raw)} bytes is larger than {MAX_BODY_BYTES}")
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(400, "body is not UTF-8") from None
            verify_signature(signed_url(request, config), body, request.headers.get(SIGNATURE_HEADER), config.token)
            events = parse_events(body)
            received = now()
            check_fresh(events, received, config)
        except Refused as refused:
            log.warning("refused POST %s from %s: HTTP %d, %s; nothing stored",
                        request.url.path, peer, refused.status, refused.reason)
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        lines = [stored_line(e, received) for e in events]
        await run_in_threadpool(writer.append, lines)
        log.info("stored %d event(s) from %s", len(lines), peer)
        return JSONResponse({"stored": len(lines)})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route(config.path, receive, methods=["POST"]), Route("/healthz", health)])
    app.state.writer = writer
    return app


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sms_response.adapters.twilio_receiver",
        description=f"Twilio Event Streams webhook sink. The Auth Token is read from ${TOKEN_ENV}.",
    )
    p.add_argument("--dir", required=True, type=Path, help="where the hourly partition files are written")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (printed when ready)")
    p.add_argument("--path", default=DEFAULT_PATH, help="the sink's path (default %(default)s)")
    p.add_argument("--public-url", help="the sink URL configured in Twilio, when a proxy changes scheme or host")
    p.add_argument("--max-event-age", type=float, default=DEFAULT_MAX_EVENT_AGE.total_seconds(),
                   help="seconds; older events are refused as replays (default %(default)s)")
    p.add_argument("--max-clock-skew", type=float, default=DEFAULT_MAX_CLOCK_SKEW.total_seconds(),
                   help="seconds an event may be ahead of this clock (default %(default)s)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"twilio receiver: set {TOKEN_ENV} to the Auth Token requests are signed with", file=sys.stderr)
        return 2
    config = ReceiverConfig(args.dir, token, args.path if args.path.startswith("/") else f"/{args.path}",
                            args.public_url, timedelta(seconds=args.max_event_age),
                            timedelta(seconds=args.max_clock_skew))
    app = create_app(config)
    repaired = app.state.writer.repair()
    if repaired:
        log.warning("repaired %d partition file(s) after an interrupted write", len(repaired))
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    # Connections queue in the backlog from here on, so announcing now never races the server's start.
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"twilio receiver listening on http://{shown}:{port}{config.path} (partitions in {config.directory})",
          flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
