"""HTTP face of a simulated UBX (Acoustic Exchange) subscriber endpoint.

* ``GET /v1/eventfiles[?limit=&cursor=|&offset=]``: the endpoint's event files, bearer-protected (the
  endpoint's authentication key); keyset paging by ``cursor`` (the answer's ``next``, a cursor or, with
  ``next_as_link``, the path of the next page), or ``offset``; without any of them, every file at once.
  Answer: ``{"eventFiles": [{"fileName", "created", "size", "eventCount"}], "next": …}``.
* ``GET /v1/eventfiles/{fileName}``: one event file, a JSON array of event notifications; 404 for an
  unknown file, 410 for one the platform no longer keeps.
* ``POST /sim/ubx/expire`` (``{"before": ISO}`` or ``{}`` for all) and ``GET /sim/ubx/stats``: test-only,
  unauthenticated like every ``/sim`` route, loopback only.

Both public routes pass through the simulator's fault decider (429 with Retry-After, 5xx, a dropped or
truncated body, a slow answer), so ``SimulatorServer.set_faults`` applies to this endpoint too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .clock import parse_aware
from .event_routes import JSON_MEDIA_TYPE, SimulatedConnectionCut, install_log_filter
from .faults import FaultDecider
from .records import dumps
from .routing import BearerAuth, error
from .state import PageError
from .ubx_files import FileExpired, UbxFiles

DEFAULT_LIST_LIMIT = 100


async def _dropped(body: bytes) -> AsyncIterator[bytes]:
    yield body[: max(1, len(body) // 2)]
    raise SimulatedConnectionCut("simulated connection cut")


async def _faulted(decider: FaultDecider, key: str, body: Callable[[], bytes]) -> Response:
    """The answer for ``body()`` after the fault decider had its say about request ``key``."""
    decision = decider.decide(key)
    if decision.slow_seconds > 0:
        await asyncio.sleep(decision.slow_seconds)
    if decision.fault == "429":
        return error(429, "rate limited", {"Retry-After": str(decider.config.retry_after)})
    if decision.fault == "5xx":
        return error(decision.status, f"simulated server error {decision.status}")
    data = body()
    if decision.fault == "cut":
        if decision.cut_mode == "truncate":
            return Response(data[: len(data) // 2], media_type=JSON_MEDIA_TYPE)
        return StreamingResponse(_dropped(data), media_type=JSON_MEDIA_TYPE)
    return Response(data, media_type=JSON_MEDIA_TYPE)


def _int(raw: str | None, name: str, default: int | None) -> int | None:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise PageError(f"{name} must be an integer") from exc


def ubx_router(
    files: UbxFiles, authorized: Callable[[Request], bool], decider: FaultDecider, *, next_as_link: bool = False
) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/eventfiles")
    async def list_files(request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
        params = request.query_params
        try:
            offset = _int(params.get("offset"), "offset", None)
            paged = offset is not None or "cursor" in params
            limit = _int(params.get("limit"), "limit", DEFAULT_LIST_LIMIT if paged else None)
            page = await run_in_threadpool(files.list_page, limit, params.get("cursor") or None, offset)
        except PageError as exc:
            return error(400, str(exc))
        if next_as_link and page.get("next"):
            page["next"] = f"/v1/eventfiles?{urlencode({'limit': limit, 'cursor': page['next']})}"
        key = f"ubx-list|{limit}|{params.get('cursor') or ''}|{offset}"
        return await _faulted(decider, key, lambda: dumps(page).encode())

    @router.get("/v1/eventfiles/{file_name}")
    async def get_file(file_name: str, request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
        try:
            body = await run_in_threadpool(files.content, file_name)
        except FileExpired:
            return error(410, f"event file {file_name} is no longer available")
        if body is None:
            return error(404, f"no event file {file_name}")
        return await _faulted(decider, f"ubx-file|{file_name}", lambda: body)

    @router.post("/sim/ubx/expire")
    async def expire(request: Request) -> Response:
        try:
            doc: Any = await request.json()
            before = doc.get("before") if isinstance(doc, dict) else None
            cutoff = parse_aware(before) if isinstance(before, str) else None
        except ValueError:
            return error(400, 'body must be {"before": ISO-8601 with offset} or {}')
        return JSONResponse({"expired": await run_in_threadpool(files.expire, cutoff)})

    @router.get("/sim/ubx/stats")
    async def stats() -> dict[str, Any]:
        return files.stats()

    return router


def create_ubx_app(files: UbxFiles, auth_key: str, decider: FaultDecider, *, next_as_link: bool = False) -> FastAPI:
    """The endpoint's app; ``auth_key`` is the endpoint's authentication key (a bearer token)."""
    if not auth_key:
        raise ValueError("a non-empty authentication key is required")
    install_log_filter()
    app = FastAPI(title="UBX endpoint simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(ubx_router(files, BearerAuth(auth_key), decider, next_as_link=next_as_link))

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app
