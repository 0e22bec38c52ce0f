"""``GET /v1/subscribers/opt-status?[cursor=&limit=]``: the opt-status export, bearer-protected like the event API.

Answers ``{"data": [{phone, contact_id, status, opted_in_at, opted_out_at}, …], "next_cursor": … | null}``;
``status`` is ``opted_in``, ``opted_out`` or ``never_opted_in`` (see ``opt_status``).

Test-only, like every ``/sim/*`` route (no auth): ``GET /sim/truth/customers[?loyalty_tier=TIER]``, the brand's
customers a tier filter selects, which of them the platform knows and which the export says are opted in now
(``customers.customers_truth``, over the same export).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .customers import customers_truth
from .opt_status import OptStatusExport
from .routing import error
from .state import DEFAULT_LIMIT, MAX_LIMIT, PlatformState


def subscriber_router(state: PlatformState, authorized: Callable[[Request], bool]) -> APIRouter:
    router = APIRouter()
    export = OptStatusExport(state)

    @router.get("/v1/subscribers/opt-status")
    async def opt_status(request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized")
        try:
            limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return error(400, "limit must be an integer")
        if not 1 <= limit <= MAX_LIMIT:
            return error(400, f"limit must be between 1 and {MAX_LIMIT}")
        data, next_cursor = await run_in_threadpool(export.page, request.query_params.get("cursor"), limit)
        return JSONResponse({"data": data, "next_cursor": next_cursor})

    @router.get("/sim/truth/customers")
    async def sim_truth_customers(request: Request) -> Response:
        try:
            truth = await run_in_threadpool(customers_truth, state, request.query_params.get("loyalty_tier"), export)
        except ValueError as exc:
            return error(400, str(exc))
        return JSONResponse(truth)

    return router
