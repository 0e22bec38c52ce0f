"""The dashboard's routes. Mounted by the Airflow API server at ``/sms-rt`` (``plugins/sms_rt_dashboard.py``).

Security: a plugin's app is not behind Airflow's login by itself, so every route depends on Airflow's
own FastAPI security helpers: read access (GET) to the DAG whose output the page shows
(``sms_campaign_metrics`` for campaign and mailing pages, ``sms_campaign_wave`` runs for a wave,
``sms_response_tracking`` for pipeline health), or, for the stylesheet, an authenticated user. The
user comes from Airflow's JWT (the UI's cookie or a bearer token), so the auth manager configured for
Airflow decides. Routes are GET only, the database session is read-only, phones are masked, and any
error becomes a short generic page (details go to the API server's log, never to the browser).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from importlib.resources import files
from typing import Annotated, Any

import psycopg
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag, requires_authenticated
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException

from sms_response.health import UnknownValidationRun
from sms_response.metrics.read import UnknownReportSubject
from sms_response.waves.store import wave_for_request
from sms_rt_airflow.dashboard import METRICS_DAG_ID, TRACKING_DAG_ID, WAVE_DAG_ID, pages
from sms_rt_airflow.dashboard.charts import PALETTE
from sms_rt_airflow.dashboard.db import read_only_connection
from sms_rt_airflow.dashboard.formatting import FILTERS

log = logging.getLogger(__name__)

# Pages render with no script and no resource from elsewhere; the browser enforces it too.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'self'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {"dashboard.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
MESSAGES = {
    401: ("Sign in to Airflow", "The campaign dashboard needs an Airflow user. Sign in, then open it again."),
    403: ("No access", "Your Airflow user may not read this pipeline's DAGs. Ask an Airflow admin for access."),
    404: ("Not found", "There is nothing here."),
    405: ("Not allowed", "The dashboard only shows figures; it changes nothing."),
    500: ("Something went wrong", "The page could not be built. The error is in the API server's log."),
    503: ("Database unavailable", "The response database cannot be reached right now. Try again shortly."),
}

Conn = psycopg.Connection[Any]
READ_METRICS = [Depends(requires_access_dag("GET", param_dag_id=METRICS_DAG_ID))]
READ_WAVES = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=WAVE_DAG_ID))]
READ_RUN = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]  # the DAG of the run in the path
READ_PIPELINE = [Depends(requires_access_dag("GET", param_dag_id=TRACKING_DAG_ID))]
AUTHENTICATED = [Depends(requires_authenticated())]

templates = Environment(loader=PackageLoader("sms_rt_airflow.dashboard", "templates"), autoescape=True,
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
templates.filters.update(FILTERS)
templates.globals.update(FILTERS, palette=PALETTE)


def response_db() -> Iterator[Conn]:
    with read_only_connection() as conn:
        yield conn


Db = Annotated[Conn, Depends(response_db)]


def links(request: Request) -> pages.Links:
    return pages.Links(str(request.scope.get("root_path", "")).rstrip("/"))


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    html = templates.get_template(template).render(links=links(request), **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def error_page(request: Request, status_code: int, detail: str | None = None) -> HTMLResponse:
    title, message = MESSAGES.get(status_code, MESSAGES[500])
    login = None
    if status_code == 401:
        try:
            from airflow.api_fastapi.app import get_auth_manager

            login = get_auth_manager().get_url_login(next_url=str(request.url))
        except RuntimeError:  # no auth manager (the app outside the API server)
            login = None
    context = {"title": title, "message": detail or message, "status": status_code, "login": login}
    return render(request, "error.html", context, status_code)


async def http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, StarletteHTTPException) else 404
    return error_page(request, code if code in MESSAGES else 500)


async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Expected failures become their page; anything else a generic 500 (never a traceback or a URL)."""
    try:
        return await call_next(request)
    except (UnknownReportSubject, UnknownValidationRun) as exc:
        return error_page(request, 404, str(exc))
    except psycopg.OperationalError:
        log.exception("dashboard: the response database is unavailable (%s)", request.url.path)
        return error_page(request, 503)
    except Exception:
        log.exception("dashboard: page %s failed", request.url.path)
        return error_page(request, 500)


def create_app() -> FastAPI:
    app = FastAPI(title="SMS campaign dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, http_error)
    app.middleware("http")(guard)

    @app.get("/", dependencies=READ_METRICS, response_class=HTMLResponse)
    def campaigns(request: Request, db: Db) -> HTMLResponse:
        return render(request, "campaigns.html", pages.campaigns_page(db))

    @app.get("/campaigns/{code}", dependencies=READ_METRICS, response_class=HTMLResponse)
    def campaign(request: Request, code: str, db: Db) -> HTMLResponse:
        return render(request, "campaign.html", pages.campaign_page(db, code))

    @app.get("/mailings/{name}", dependencies=READ_METRICS, response_class=HTMLResponse)
    def mailing(request: Request, name: str, db: Db) -> HTMLResponse:
        return render(request, "mailing.html", pages.mailing_page(db, name))

    @app.get("/mailings/{name}/inbox", dependencies=READ_METRICS, response_class=HTMLResponse)
    def mailing_inbox(request: Request, name: str, db: Db, latest: bool = False) -> HTMLResponse:
        return render(request, "inbox.html", pages.inbox_page(db, name, latest_only=latest))

    @app.get("/mailings/{name}/{tab}", dependencies=READ_METRICS, response_class=HTMLResponse)
    def mailing_tab(request: Request, name: str, tab: str, db: Db) -> HTMLResponse:
        """Links, tracked actions or delivery failures of a blast."""
        if tab not in pages.MAILING_REPORTS:
            return error_page(request, 404)
        return render(request, f"{tab}.html", pages.MAILING_REPORTS[tab](db, name))

    @app.get("/waves/{name}", dependencies=READ_WAVES, response_class=HTMLResponse)
    def wave(request: Request, name: str, db: Db) -> HTMLResponse:
        return render(request, "wave.html", pages.wave_page(db, name))

    @app.get("/runs/{dag_id}/{run_id}", dependencies=READ_RUN, response_class=HTMLResponse)
    def wave_of_run(request: Request, dag_id: str, run_id: str, db: Db) -> HTMLResponse:
        """The wave a run of ``sms_campaign_wave`` planned (the DAG run's "Wave report" tab)."""
        if dag_id != WAVE_DAG_ID:
            return error_page(request, 404, f"The wave report belongs to runs of {WAVE_DAG_ID}, not {dag_id}.")
        name = next(filter(None, (wave_for_request(db, key) for key in request_keys(dag_id, run_id))), None)
        if name is None:
            return error_page(request, 404, f"Run {run_id} planned no wave (a dry run, or it stopped before "
                                             "planning), or its wave's metrics are not refreshed yet.")
        return render(request, "wave.html", pages.wave_page(db, name))

    @app.get("/health", dependencies=READ_PIPELINE, response_class=HTMLResponse)
    def pipeline_health(request: Request, db: Db) -> HTMLResponse:
        return render(request, "health.html", pages.health_page(db))

    @app.get("/health/validations/{validation_id}", dependencies=READ_PIPELINE, response_class=HTMLResponse)
    def validation(request: Request, validation_id: int, db: Db) -> HTMLResponse:
        return render(request, "validation.html", pages.validation_page(db, validation_id))

    @app.get("/static/{name}", dependencies=AUTHENTICATED)
    def static(request: Request, name: str) -> Response:
        if name not in STATIC:
            return error_page(request, 404)
        body = (files("sms_rt_airflow.dashboard") / "static" / name).read_bytes()
        return Response(body, media_type=STATIC[name], headers={**HEADERS, "Cache-Control": "private, max-age=300"})

    return app


def request_keys(dag_id: str, run_id: str) -> list[str]:
    """The keys a wave run may have stored its request under (``operators.request_key``): the DAG and the
    run's logical date when it has one, else its run id."""
    keys = [f"{dag_id}/{run_id}"]
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            logical_date = session.scalar(
                select(DagRun.logical_date).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    except Exception:  # the metadata DB unreachable: the run id is still a key
        log.warning("dashboard: could not read run %s/%s from the metadata database", dag_id, run_id)
        return keys
    return keys if logical_date is None else [f"{dag_id}/{logical_date.isoformat()}", *keys]
