"""HTTP face of the simulator.

Public contract (what a pipeline client talks to):

* ``GET /v1/events`` - bearer-token protected event feed, see ``events()``.
* ``GET /healthz``   - liveness, ``{"ok": true}``.

Test-only endpoints under ``/sim/*`` need **no authentication** on purpose: they
exist so tests and demos can read ground truth and flip faults at runtime, and
the server only ever listens on loopback.  Never expose them on a real network.

* ``GET  /sim/truth?start=&end=`` - ``PlatformState.truth`` for that window.
* ``GET  /sim/truth/all``         - campaign-wide truth incl. segments.
* ``GET  /sim/stats``             - request/page/fault/auth counters.
* ``POST /sim/stats/reset``       - zero the counters.
* ``GET  /sim/config``            - current fault config and wave behaviour.
* ``POST /sim/config``            - partial update of the fault config (JSON object); a ``wave``
  key holds a partial update of the wave behaviour (``WaveBehaviour`` fields).

Push side (see ``push.py``):

* ``POST /v1/contacts/imports``, ``GET /v1/contacts/imports/{id}``, ``GET /v1/contacts/fields``.
* ``POST /v1/messages/batch``  - exactly-once sends by idempotency key; drives the behaviour model.
* ``POST /v1/messages/status`` - ``{"message_ids": [...]}`` -> delivery status per message.
* ``GET  /r/{token}``          - public short link (no auth): 302 to the target, records a click.
* ``GET  /sim/sends``          - send counts per mailing and phone (exactly-once proof).
* ``GET  /sim/truth/wave?mailing=NAME`` - truth of a wave mailing (``PushState.wave_truth``).
* ``GET|POST /sim/send-gate``  - ``{"block_after": K}`` / ``{"release": true}``: hold a batch mid-way.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .faults import FaultConfig, FaultDecider
from .model import parse_aware, to_us
from .push import SYSTEM_FIELDS, PushError, PushState, WaveBehaviour
from .state import DEFAULT_LIMIT, MAX_LIMIT, PageError, PlatformState

JSON_MEDIA_TYPE = "application/json"


class SimulatedConnectionCut(Exception):
    """Raised mid-body so the server drops the connection on a 'cut page' fault."""


class _SuppressSimulatedCuts(logging.Filter):
    # A deliberate cut would otherwise print a full traceback on every fault.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_cut(record.exc_info[1]))


def _is_cut(exc: BaseException | None) -> bool:
    if isinstance(exc, SimulatedConnectionCut):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cut(e) for e in exc.exceptions)
    return False


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _SuppressSimulatedCuts) for f in logger.filters):
        logger.addFilter(_SuppressSimulatedCuts())


@dataclass(frozen=True)
class ApiConfig:
    token: str = field(repr=False)
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("a non-empty bearer token is required")


class SimStats:
    """Counters for /sim/stats; updated from the event loop and worker threads."""

    FAULT_KINDS = ("429", "5xx", "slow", "cut")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._faults: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(
                ("requests", "pages_served", "records_served", "auth_failures", "bad_requests"), 0
            )
            self._faults = dict.fromkeys(self.FAULT_KINDS, 0)

    def incr(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + by

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self._counters, "faults": dict(self._faults)}


@dataclass
class SimulatorRuntime:
    state: PlatformState
    token: str = field(repr=False)
    decider: FaultDecider
    stats: SimStats


def get_runtime(app: FastAPI) -> SimulatorRuntime:
    runtime: SimulatorRuntime = app.state.runtime
    return runtime


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def _parse_time(params: Mapping[str, str], name: str) -> datetime:
    raw = params.get(name)
    if not raw:
        raise PageError(f"{name} is required")
    try:
        return parse_aware(raw)
    except ValueError as exc:
        hint = " (a '+' in the offset must be URL-encoded as %2B)" if " " in raw else ""
        raise PageError(f"{name} must be an ISO-8601 timestamp with timezone{hint}") from exc


def _parse_window(params: Mapping[str, str]) -> tuple[datetime, datetime]:
    start, end = _parse_time(params, "start"), _parse_time(params, "end")
    if end <= start:
        raise PageError("end must be after start")
    return start, end


def _parse_list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or None


@dataclass(frozen=True)
class EventsQuery:
    start: datetime
    end: datetime
    cursor: str | None
    limit: int
    codes: list[str] | None
    mailings: list[str] | None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> EventsQuery:
        start, end = _parse_window(params)
        raw_limit = params.get("limit")
        try:
            limit = int(raw_limit) if raw_limit is not None else DEFAULT_LIMIT
        except ValueError as exc:
            raise PageError(f"limit must be an integer between 1 and {MAX_LIMIT}") from exc
        # Range, codes and cursor are validated by PlatformState.page_json.
        cursor = params.get("cursor") or None
        return cls(start, end, cursor, limit, _parse_list(params.get("codes")), _parse_list(params.get("mailings")))

    @property
    def page_key(self) -> str:
        codes = ",".join(sorted(self.codes or ()))
        mailings = ",".join(sorted(self.mailings or ()))
        return f"{to_us(self.start)}|{to_us(self.end)}|{self.cursor or ''}|{self.limit}|{codes}|{mailings}"


def _page_body(texts: list[str], next_cursor: str | None) -> bytes:
    # Envelopes are already serialised; splicing avoids a decode/encode round trip.
    return (
        '{"data":[' + ",".join(texts) + '],"next_cursor":' + json.dumps(next_cursor) + f',"count":{len(texts)}}}'
    ).encode()


async def _cut_stream(body: bytes) -> AsyncIterator[bytes]:
    yield body[: max(1, len(body) // 2)]
    raise SimulatedConnectionCut("simulated connection cut")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def create_app(
    state: PlatformState,
    config: ApiConfig,
    *,
    behaviour: WaveBehaviour | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The simulator app; ``behaviour`` drives wave sends, ``clock`` (default: now, UTC) times them."""
    _install_log_filter()
    runtime = SimulatorRuntime(state, config.token, FaultDecider(config.faults), SimStats())
    app = FastAPI(title="SMS platform simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    expected_auth = f"Bearer {config.token}".encode()

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected_auth)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/v1/events")
    async def events(request: Request) -> Response:
        """Events published in [start, end), ordered by (published_at, sequence)."""
        runtime.stats.incr("requests")
        if not authorized(request):
            runtime.stats.incr("auth_failures")
            return _error(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
        try:
            query = EventsQuery.parse(request.query_params)
            # Built before the fault decision so an invalid cursor is a 400 even when a
            # fault would have been rolled; a faulted page is simply thrown away.
            texts, next_cursor = await run_in_threadpool(
                state.page_json, query.start, query.end, query.cursor, query.limit, query.codes, query.mailings
            )
        except PageError as exc:
            runtime.stats.incr("bad_requests")
            return _error(400, str(exc))
        decision = runtime.decider.decide(query.page_key)
        if decision.slow_seconds > 0:
            runtime.stats.fault("slow")
            await asyncio.sleep(decision.slow_seconds)
        if decision.fault == "429":
            runtime.stats.fault("429")
            retry_after = runtime.decider.config.retry_after
            return _error(429, "rate limited", {"Retry-After": str(retry_after)})
        if decision.fault == "5xx":
            runtime.stats.fault("5xx")
            return _error(decision.status, f"simulated server error {decision.status}")
        body = _page_body(texts, next_cursor)
        if decision.fault == "cut":
            runtime.stats.fault("cut")
            if decision.cut_mode == "truncate":
                return Response(body[: len(body) // 2], media_type=JSON_MEDIA_TYPE)
            return StreamingResponse(_cut_stream(body), media_type=JSON_MEDIA_TYPE)
        runtime.stats.incr("pages_served")
        runtime.stats.incr("records_served", len(texts))
        return Response(body, media_type=JSON_MEDIA_TYPE)

    @app.get("/sim/truth")
    async def sim_truth(request: Request) -> Response:
        try:
            start, end = _parse_window(request.query_params)
        except PageError as exc:
            return _error(400, str(exc))
        return JSONResponse(await run_in_threadpool(state.truth, start, end))

    @app.get("/sim/truth/all")
    async def sim_truth_all() -> Response:
        return JSONResponse(await run_in_threadpool(state.truth_all))

    @app.get("/sim/stats")
    async def sim_stats() -> dict[str, Any]:
        return runtime.stats.snapshot()

    @app.post("/sim/stats/reset")
    async def sim_stats_reset() -> dict[str, Any]:
        runtime.stats.reset()
        return runtime.stats.snapshot()

    push = PushState(state, behaviour=behaviour or WaveBehaviour(), clock=clock or (lambda: datetime.now(UTC)))
    app.state.push = push

    @app.post("/v1/contacts/imports", status_code=201)
    async def contact_import(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "unauthorized")
        try:
            body = await request.json()
            rid = push.start_import(body if isinstance(body, dict) else {})
        except (ValueError, PushError) as exc:
            return _error(400, str(exc))
        return JSONResponse({"resource_id": rid}, status_code=201)

    @app.get("/v1/contacts/imports/{resource_id}")
    async def contact_import_status(resource_id: str, request: Request) -> Response:
        if not authorized(request):
            return _error(401, "unauthorized")
        status = push.import_status(resource_id)
        return JSONResponse(status) if status else _error(404, f"no import {resource_id}")

    @app.get("/v1/contacts/fields")
    async def contact_fields(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "unauthorized")
        return JSONResponse({"system": list(SYSTEM_FIELDS), "custom": list(push.custom_fields)})

    @app.post("/v1/messages/batch")
    async def send_batch(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "unauthorized")
        try:
            body = await request.json()
            messages = body.get("messages") if isinstance(body, dict) else None
            # In a worker thread: the send gate may hold it, and the event loop must keep serving.
            results = await run_in_threadpool(push.send_batch, messages, _base_url(request))
        except (ValueError, PushError) as exc:
            return _error(400, str(exc))
        return JSONResponse({"results": results})

    @app.post("/v1/messages/status")
    async def message_status(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "unauthorized")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body must be JSON")
        ids = body.get("message_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _error(400, "message_ids must be a list of strings")
        return JSONResponse({"statuses": push.message_statuses(ids)})

    @app.get("/r/{token}")
    async def short_link(token: str, request: Request) -> Response:
        target = await run_in_threadpool(push.click, token, _base_url(request))
        if target is None:
            return _error(404, "unknown link")
        return RedirectResponse(target, status_code=302)

    @app.get("/sim/sends")
    async def sim_sends() -> dict[str, Any]:
        return push.send_counts()

    @app.get("/sim/truth/wave")
    async def sim_truth_wave(request: Request) -> Response:
        mailing = request.query_params.get("mailing")
        if not mailing:
            return _error(400, "mailing is required")
        return JSONResponse(await run_in_threadpool(push.wave_truth, mailing))

    @app.get("/sim/send-gate")
    async def sim_send_gate() -> dict[str, Any]:
        return push.send_gate_status()

    @app.post("/sim/send-gate")
    async def sim_send_gate_update(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body must be JSON")
        if not isinstance(body, dict) or (body.get("release") is True) == ("block_after" in body):
            return _error(400, 'body must be {"block_after": K} or {"release": true}')
        try:
            if body.get("release") is True:
                status = push.release_send_gate()
            else:
                status = push.arm_send_gate(body["block_after"])
        except PushError as exc:
            return _error(400, str(exc))
        return JSONResponse(status)

    @app.get("/sim/config")
    async def sim_config() -> dict[str, Any]:
        return {"faults": runtime.decider.config.to_json(), "wave": push.behaviour.to_json()}

    @app.post("/sim/config")
    async def sim_config_update(request: Request) -> Response:
        try:
            changes = await request.json()
        except ValueError:
            return _error(400, "body must be JSON")
        if not isinstance(changes, dict):
            return _error(400, "body must be a JSON object")
        fault_changes = {k: v for k, v in changes.items() if k != "wave"}
        wave_changes = changes.get("wave", {})
        if not isinstance(wave_changes, dict):
            return _error(400, "wave must be a JSON object")
        try:
            behaviour = push.behaviour.updated(wave_changes)  # validated before anything changes
            updated = runtime.decider.update(fault_changes)
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        push.behaviour = behaviour
        return JSONResponse({"faults": updated.to_json(), "wave": behaviour.to_json()})

    return app
