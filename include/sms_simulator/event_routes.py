"""The event API's routes: the bearer-protected ``GET /v1/events`` feed and its test-only truth and stats.

``GET /v1/events?start=&end=[&cursor=&limit=&codes=&mailings=]`` answers one page of the envelopes
published in ``[start, end)``, ordered by (published_at, sequence), each request first passed
through the page gate and the fault decider (429, 5xx, a cut or truncated body, a reset connection, a
duplicated page, a slow answer).  ``/sim/truth``,
``/sim/truth/all`` and ``/sim/stats`` let tests read the ground truth and the request counters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .clock import parse_aware, to_us
from .faults import FaultDecider, PageGate
from .resets import request_reset
from .routing import error
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


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _SuppressSimulatedCuts) for f in logger.filters):
        logger.addFilter(_SuppressSimulatedCuts())


class SimStats:
    """Counters for /sim/stats; updated from the event loop and worker threads."""

    FAULT_KINDS = ("429", "5xx", "slow", "cut", "reset", "dup")

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


def event_router(
    state: PlatformState, decider: FaultDecider, stats: SimStats, authorized: Callable[[Request], bool],
    page_gate: PageGate | None = None,
) -> APIRouter:
    """Routes of the event feed over ``state``, with faults from ``decider``, pages held by ``page_gate`` and
    counts in ``stats``."""
    router = APIRouter()
    gate = page_gate or PageGate()

    @router.get("/v1/events")
    async def events(request: Request) -> Response:
        """Events published in [start, end), ordered by (published_at, sequence)."""
        stats.incr("requests")
        if not authorized(request):
            stats.incr("auth_failures")
            return error(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
        try:
            query = EventsQuery.parse(request.query_params)
            # Built before the fault decision so an invalid cursor is a 400 even when a
            # fault would have been rolled; a faulted page is simply thrown away.
            texts, next_cursor = await run_in_threadpool(
                state.page_json, query.start, query.end, query.cursor, query.limit, query.codes, query.mailings
            )
        except PageError as exc:
            stats.incr("bad_requests")
            return error(400, str(exc))
        await gate.admit()
        decision = decider.decide(query.page_key)
        if decision.slow_seconds > 0:
            stats.fault("slow")
            await asyncio.sleep(decision.slow_seconds)
        if decision.fault == "429":
            stats.fault("429")
            retry_after = decider.config.retry_after
            return error(429, "rate limited", {"Retry-After": str(retry_after)})
        if decision.fault == "5xx":
            stats.fault("5xx")
            return error(decision.status, f"simulated server error {decision.status}")
        if decision.fault == "reset":
            stats.fault("reset")
            request_reset(request.scope)
            return Response(status_code=503)  # never sent: the connection is reset instead
        if decision.fault == "dup" and query.cursor is not None:
            # The cursor does not advance: the client is handed this page again on its next request.
            stats.fault("dup")
            next_cursor = query.cursor
        body = _page_body(texts, next_cursor)
        if decision.fault == "cut":
            stats.fault("cut")
            if decision.cut_mode == "truncate":
                return Response(body[: len(body) // 2], media_type=JSON_MEDIA_TYPE)
            return StreamingResponse(_cut_stream(body), media_type=JSON_MEDIA_TYPE)
        stats.incr("pages_served")
        stats.incr("records_served", len(texts))
        return Response(body, media_type=JSON_MEDIA_TYPE)

    @router.get("/sim/truth")
    async def sim_truth(request: Request) -> Response:
        try:
            start, end = _parse_window(request.query_params)
        except PageError as exc:
            return error(400, str(exc))
        return JSONResponse(await run_in_threadpool(state.truth, start, end))

    @router.get("/sim/truth/all")
    async def sim_truth_all() -> Response:
        return JSONResponse(await run_in_threadpool(state.truth_all))

    @router.get("/sim/stats")
    async def sim_stats() -> dict[str, Any]:
        return stats.snapshot()

    @router.post("/sim/stats/reset")
    async def sim_stats_reset() -> dict[str, Any]:
        stats.reset()
        return stats.snapshot()

    return router
