"""HTTP face of the simulator.

Public contract (what a pipeline client talks to):

* ``GET /v1/events`` - bearer-token protected event feed, see ``event_routes``.
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

Push side (see ``push_routes.py``):

* ``POST /v1/contacts/imports``, ``GET /v1/contacts/imports/{id}``, ``GET /v1/contacts/fields``.
* ``POST /v1/messages/batch``  - exactly-once sends by idempotency key; drives the behaviour model.
* ``POST /v1/messages/status`` - ``{"message_ids": [...]}`` -> delivery status per message.
* ``GET  /v1/subscribers/opt-status`` - the opt-status export, paged (``subscriber_routes``).
* ``GET  /sim/truth/customers[?loyalty_tier=TIER]`` - the brand's customers a tier selects, known to the
  platform or not, and which the opt-status export says are opted in now (``customers.customers_truth``).
* ``GET  /r/{token}``          - public short link (no auth): 302 to the target, records a click.
* ``GET  /sim/sends``          - send counts per mailing and phone (exactly-once proof).
* ``GET  /sim/truth/wave?mailing=NAME`` - truth of a wave mailing (``PushState.wave_truth``).
* ``POST /sim/holdout``       - ``{"mailing": NAME, "phones": [...]}``: a wave's holdout; some members
  convert or reply anyway (``WaveBehaviour.draw_holdout``). ``GET /sim/holdout?mailing=NAME`` lists it.
* ``GET  /sim/truth/metrics[?mailing=NAME…][&campaign=CODE][&until=ISO][&price_gsm7=][&price_ucs2=]
  [&response_window_hours=]`` - every campaign metric of docs/metrics.md per mailing (links, actions,
  wave groups and lift) and per campaign, over the valid originals published before ``until``.
* ``GET|POST /sim/send-gate``  - ``{"block_after": K}`` / ``{"release": true}``: hold a batch mid-way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .event_routes import SimStats, event_router, install_log_filter
from .faults import FaultConfig, FaultDecider, PageGate
from .push_routes import push_router
from .resets import ResettableApp
from .routing import BearerAuth, error
from .sends import PushState
from .state import PlatformState
from .subscriber_routes import subscriber_router
from .wave import WaveBehaviour


@dataclass(frozen=True)
class ApiConfig:
    token: str = field(repr=False)
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("a non-empty bearer token is required")


@dataclass
class SimulatorRuntime:
    state: PlatformState
    token: str = field(repr=False)
    decider: FaultDecider
    stats: SimStats
    page_gate: PageGate = field(default_factory=PageGate)


def get_runtime(app: FastAPI) -> SimulatorRuntime:
    runtime: SimulatorRuntime = app.state.runtime
    return runtime


def create_app(
    state: PlatformState,
    config: ApiConfig,
    *,
    behaviour: WaveBehaviour | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The simulator app; ``behaviour`` drives wave sends, ``clock`` (default: now, UTC) times them."""
    install_log_filter()
    runtime = SimulatorRuntime(state, config.token, FaultDecider(config.faults), SimStats())
    # ResettableApp: the 'reset' fault needs the server's own send, outside every other middleware.
    app = ResettableApp(title="SMS platform simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    authorized = BearerAuth(config.token)
    push = PushState(state, behaviour=behaviour or WaveBehaviour(), clock=clock or (lambda: datetime.now(UTC)))
    app.state.push = push
    app.include_router(event_router(state, runtime.decider, runtime.stats, authorized, runtime.page_gate))
    app.include_router(push_router(push, authorized))
    app.include_router(subscriber_router(state, authorized))

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/sim/config")
    async def sim_config() -> dict[str, Any]:
        return {"faults": runtime.decider.config.to_json(), "wave": push.behaviour.to_json()}

    @app.post("/sim/config")
    async def sim_config_update(request: Request) -> Response:
        try:
            changes = await request.json()
        except ValueError:
            return error(400, "body must be JSON")
        if not isinstance(changes, dict):
            return error(400, "body must be a JSON object")
        fault_changes = {k: v for k, v in changes.items() if k != "wave"}
        wave_changes = changes.get("wave", {})
        if not isinstance(wave_changes, dict):
            return error(400, "wave must be a JSON object")
        try:
            behaviour = push.behaviour.updated(wave_changes)  # validated before anything changes
            updated = runtime.decider.update(fault_changes)
        except (TypeError, ValueError) as exc:
            return error(400, str(exc))
        push.behaviour = behaviour
        return JSONResponse({"faults": updated.to_json(), "wave": behaviour.to_json()})

    return app
