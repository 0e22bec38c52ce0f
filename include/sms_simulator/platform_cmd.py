"""``python -m sms_simulator platform``: the simulator served over a real platform's transport, for the demo.

Builds the seeded campaign, runs a ``SimulatorServer`` (the event API, the push API the campaign waves send
through, every ``/sim/*`` route) and the platform's ``start()`` (``ubx``, ``twilio`` or ``braze``), prints one
line of JSON to stdout and serves until SIGTERM or SIGINT::

    {"platform": "ubx", "simulator": "http://127.0.0.1:PORT", "connection": {...AIRFLOW_CONN_SMS_PLATFORM...}}

The connection holds its secret (the UBX authentication key, the simulator's token, the S3 secret): the line
is for the parent process that reads the pipe, never for a terminal or a log.

Twilio and Braze cannot carry everything the model has (no tapped actions or conversions, no message parts on
Braze, Braze's reply attribution), so their truth is served next to the simulator's, on the simulator's port:

* ``GET /sim/truth/{twilio|braze}?start=&end=``: the window's records as the platform delivered them
  (``records``, with the platform's own breakdown);
* ``GET /sim/truth/{twilio|braze}/metrics[?mailing=…][&until=]``: the campaign metrics of what it carried;
* ``GET /sim/truth/{twilio|braze}/wave?mailing=``: a wave's delivered phones, responders, non-responders and
  opt-outs of what it carried (the rules of ``PushState.wave_truth``);
* ``POST /sim/platform/sync``: push or write now what the simulator published since (a wave, its holdout).

On UBX the simulator's own truth (``/sim/truth*``) is the platform's: the event files hold exactly the records
the event API serves.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .clock import parse_aware
from .faults import FaultConfig
from .metrics_query import MetricsQuery
from .records import Fact
from .routing import error
from .server import SimulatorServer
from .state import PlatformState
from .truth import RESPONSE_WINDOW_US
from .vocabulary import INTERACTED, RESPONSE_TYPES, SENT

PLATFORMS = ("ubx", "twilio", "braze")
FOLLOW_SECONDS = 5.0
# The demo imports a wave's reactions right after sending it: Twilio pushes them that much ahead of their time.
TWILIO_PUSH_AHEAD = timedelta(days=1)


def wave_segments(facts: Iterable[Fact], mailing: str) -> dict[str, Any]:
    """A wave's segments over the facts a platform carried, by the rules of ``PushState.wave_truth``."""
    sends: dict[str, Any] = {}
    interactions: list[Fact] = []
    for f in facts:
        if f.event.mailing != mailing:
            continue
        if f.event.code == SENT:
            sends.setdefault(f.phone, f.event)
        elif f.event.code == INTERACTED:
            interactions.append(f)
    delivered = {p for p, e in sends.items() if e.delivery_status == "delivered"}
    opt_out: dict[str, int] = {}
    for f in interactions:
        if f.event.is_opt_out:
            opt_out[f.phone] = min(f.event.at_us, opt_out.get(f.phone, f.event.at_us))
    responders = set()
    for f in interactions:
        e, phone = f.event, f.phone
        if phone not in delivered or e.is_opt_out or e.interaction not in RESPONSE_TYPES:
            continue
        send_us = sends[phone].at_us
        deadline = min(send_us + RESPONSE_WINDOW_US, opt_out.get(phone, send_us + RESPONSE_WINDOW_US))
        if send_us <= e.at_us < deadline:
            responders.add(phone)
    opted = set(opt_out) & set(sends)
    return {"mailing": mailing, "sent": len(sends), "delivered_phones": sorted(delivered),
            "responders": sorted(responders), "opted_out_phones": sorted(opted),
            "non_responders": sorted(delivered - responders - opted)}


class PlatformTruth:
    """What the platform carried: its window counts, metrics and wave segments (Twilio, Braze)."""

    def __init__(self, sync: Callable[[], None], window: Callable[[Any, Any], dict[str, Any]],
                 metrics: Callable[[MetricsQuery], dict[str, Any]], facts: Callable[[], list[Fact]]) -> None:
        self.sync, self.window, self.metrics, self.facts = sync, window, metrics, facts


def install_truth_routes(sim: SimulatorServer, platform: str, truth: Callable[[], PlatformTruth]) -> None:
    """The platform's truth routes on the simulator's app (``truth()`` is resolved per request)."""
    app = sim.app

    @app.get(f"/sim/truth/{platform}")
    async def window_truth(request: Request) -> Response:
        try:
            start = parse_aware(request.query_params["start"])
            end = parse_aware(request.query_params["end"])
        except (KeyError, ValueError):
            return error(400, "start and end (ISO-8601 with time zone) are required")
        return JSONResponse(await run_in_threadpool(truth().window, start, end))

    @app.get(f"/sim/truth/{platform}/metrics")
    async def metrics_truth(request: Request) -> Response:
        try:
            query = MetricsQuery.parse(request.query_params, request.query_params.getlist("mailing"))
        except ValueError as exc:
            return error(400, str(exc))
        return JSONResponse(await run_in_threadpool(truth().metrics, query))

    @app.get(f"/sim/truth/{platform}/wave")
    async def wave_truth(request: Request) -> Response:
        mailing = request.query_params.get("mailing")
        if not mailing:
            return error(400, "mailing is required")
        return JSONResponse(await run_in_threadpool(lambda: wave_segments(truth().facts(), mailing)))

    @app.post("/sim/platform/sync")
    async def sync() -> dict[str, Any]:
        await run_in_threadpool(truth().sync)
        return {"synced": True}


@contextmanager
def _follow(sync: Callable[[], None], seconds: float) -> Iterator[None]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                sync()
            except Exception as exc:  # a failed round is retried; the next one says why
                print(f"sms-simulator platform: sync failed ({exc}); retrying", file=sys.stderr)

    thread = threading.Thread(target=loop, name="platform-follow", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)


def _records(counts: dict[str, int], key: str) -> dict[str, Any]:
    return {"records": counts[key], **counts}


@contextmanager
def _twilio(sim: SimulatorServer, workdir: Path) -> Iterator[tuple[dict[str, Any], PlatformTruth]]:
    from . import twilio, twilio_truth

    with twilio.running(sim, workdir, follow_seconds=FOLLOW_SECONDS, push_ahead=TWILIO_PUSH_AHEAD) as run:
        feed = run.feed
        yield run.connection, PlatformTruth(
            sync=lambda: None if feed.sync() else None,
            window=lambda s, e: _records(twilio_truth.window_counts(feed.rendering, s, e), "downloaded"),
            metrics=lambda q: twilio_truth.metrics(feed.rendering, q),
            facts=lambda: list(feed.rendering.rendered_facts),
        )


@contextmanager
def _braze(sim: SimulatorServer, workdir: Path) -> Iterator[tuple[dict[str, Any], PlatformTruth]]:
    from . import braze, braze_truth

    lock = threading.Lock()
    cache: dict[str, Any] = {}

    def rendered() -> braze.BrazeExport:
        """The bucket's rendering, written again only when the simulator published something new."""
        with lock:
            if cache.get("records") != len(sim.state):
                cache["records"] = len(sim.state)
                cache["export"] = run.bucket.sync()
            export: braze.BrazeExport = cache["export"]
            return export

    with braze.running(sim, workdir) as run, _follow(lambda: None if rendered() else None, FOLLOW_SECONDS):
        yield run.connection, PlatformTruth(
            sync=lambda: None if rendered() else None,
            window=lambda s, e: rendered().window_truth(s, e),
            metrics=lambda q: braze_truth.metrics(sim.state, rendered().world, q),
            facts=lambda: braze_truth.braze_facts(sim.state, rendered().world),
        )


def serve(platform: str, state: PlatformState, token: str, faults: FaultConfig, workdir: Path,
          host: str = "127.0.0.1", port: int = 0) -> int:
    """Serve ``state`` over ``platform`` until SIGTERM/SIGINT; the connection line goes to stdout first."""
    from . import ubx

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workdir.mkdir(parents=True, exist_ok=True)
    holder: dict[str, PlatformTruth] = {}
    sim = SimulatorServer(state, token=token, faults=faults, host=host, port=port)
    if platform != "ubx":
        install_truth_routes(sim, platform, lambda: holder[platform])
    with sim:
        if platform == "ubx":
            transport: Any = ubx.start(sim, workdir)
        else:
            transport = (_twilio if platform == "twilio" else _braze)(sim, workdir)
        with transport as started:
            if platform == "ubx":
                conn = started
            else:
                conn, holder[platform] = started
            sys.stdout.write(json.dumps({"platform": platform, "simulator": sim.base_url, "connection": conn}) + "\n")
            sys.stdout.flush()
            print(f"sms-simulator: {len(state)} records over {platform}; simulator API on {sim.base_url}",
                  file=sys.stderr, flush=True)
            stop.wait()
    return 0
