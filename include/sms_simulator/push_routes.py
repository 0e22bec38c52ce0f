"""The push side's routes: contact imports, batch sends, delivery status, short links and their test hooks.

Bearer-protected: ``/v1/contacts/*`` (``contacts``) and ``/v1/messages/*`` (``sends``).  Public:
``GET /r/{token}``, a short link (302 to its target, records a click).  Test-only, like every
``/sim/*`` route: ``/sim/sends`` (exactly-once proof), ``/sim/contact-imports`` (the phones of every import
received), ``/sim/truth/wave``, ``/sim/send-gate``,
``/sim/holdout`` (tell the platform a wave's holdout) and ``/sim/truth/metrics`` (the campaign metrics
of docs/metrics.md, computed by ``metrics_truth``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .contacts import SYSTEM_FIELDS
from .errors import PushError
from .metrics_query import MetricsQuery
from .routing import base_url, error
from .sends import PushState


def push_router(push: PushState, authorized: Callable[[Request], bool]) -> APIRouter:
    """Routes of the push side over ``push``; ``authorized`` checks the bearer token."""
    router = APIRouter()

    @router.post("/v1/contacts/imports", status_code=201)
    async def contact_import(request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized")
        try:
            body = await request.json()
            rid = push.contacts.start_import(body if isinstance(body, dict) else {})
        except (ValueError, PushError) as exc:
            return error(400, str(exc))
        return JSONResponse({"resource_id": rid}, status_code=201)

    @router.get("/v1/contacts/imports/{resource_id}")
    async def contact_import_status(resource_id: str, request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized")
        status = push.contacts.import_status(resource_id)
        return JSONResponse(status) if status else error(404, f"no import {resource_id}")

    @router.get("/v1/contacts/fields")
    async def contact_fields(request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized")
        return JSONResponse({"system": list(SYSTEM_FIELDS), "custom": list(push.contacts.custom_fields)})

    @router.post("/v1/messages/batch")
    async def send_batch(request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized")
        try:
            body = await request.json()
            messages = body.get("messages") if isinstance(body, dict) else None
            # In a worker thread: the send gate may hold it, and the event loop must keep serving.
            results = await run_in_threadpool(push.send_batch, messages, base_url(request))
        except (ValueError, PushError) as exc:
            return error(400, str(exc))
        return JSONResponse({"results": results})

    @router.post("/v1/messages/status")
    async def message_status(request: Request) -> Response:
        if not authorized(request):
            return error(401, "unauthorized")
        try:
            body = await request.json()
        except ValueError:
            return error(400, "body must be JSON")
        ids = body.get("message_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return error(400, "message_ids must be a list of strings")
        return JSONResponse({"statuses": push.message_statuses(ids)})

    @router.get("/r/{token}")
    async def short_link(token: str, request: Request) -> Response:
        target = await run_in_threadpool(push.click, token, base_url(request))
        if target is None:
            return error(404, "unknown link")
        return RedirectResponse(target, status_code=302)

    @router.get("/sim/sends")
    async def sim_sends() -> dict[str, Any]:
        return push.send_counts()

    @router.get("/sim/contact-imports")
    async def sim_contact_imports() -> dict[str, Any]:
        return {"imports": push.contacts.received()}

    @router.get("/sim/truth/wave")
    async def sim_truth_wave(request: Request) -> Response:
        mailing = request.query_params.get("mailing")
        if not mailing:
            return error(400, "mailing is required")
        return JSONResponse(await run_in_threadpool(push.wave_truth, mailing))

    @router.post("/sim/holdout")
    async def sim_holdout(request: Request) -> Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise PushError('body must be {"mailing": NAME, "phones": [E.164, ...]}')
            result = await run_in_threadpool(push.register_holdout, body.get("mailing"), body.get("phones"))
        except (ValueError, PushError) as exc:
            return error(400, str(exc))
        return JSONResponse(result)

    @router.get("/sim/holdout")
    async def sim_holdout_members(request: Request) -> Response:
        mailing = request.query_params.get("mailing")
        if not mailing:
            return error(400, "mailing is required")
        return JSONResponse({"mailing": mailing, "phones": push.holdout(mailing)})

    @router.get("/sim/truth/metrics")
    async def sim_truth_metrics(request: Request) -> Response:
        try:
            query = MetricsQuery.parse(request.query_params, request.query_params.getlist("mailing"))
        except ValueError as exc:
            return error(400, str(exc))
        return JSONResponse(await run_in_threadpool(push.metrics_truth, query))

    @router.get("/sim/send-gate")
    async def sim_send_gate() -> dict[str, Any]:
        return push.send_gate.status()

    @router.post("/sim/send-gate")
    async def sim_send_gate_update(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "body must be JSON")
        if not isinstance(body, dict) or (body.get("release") is True) == ("block_after" in body):
            return error(400, 'body must be {"block_after": K} or {"release": true}')
        try:
            if body.get("release") is True:
                status = push.send_gate.release()
            else:
                status = push.send_gate.arm(body["block_after"])
        except PushError as exc:
            return error(400, str(exc))
        return JSONResponse(status)

    return router
