"""The campaign dashboard: a FastAPI app the Airflow API server mounts, and the plugin that mounts it.

* ``app``: the routes (every one GET, every one behind Airflow's own authentication and DAG read access),
  error pages, headers;
* ``pages``: what each page shows, read through ``sms_response.metrics.read`` and ``sms_response.health``
  (metric and bookkeeping tables only, never the event tables);
* ``charts``: SVG charts drawn on the server; ``formatting``: how figures read;
* ``db``: the read-only connection to the response database (through ``ResponseDbHook``);
* ``templates/`` (Jinja2, autoescaped) and ``static/`` (the stylesheet): nothing is loaded from elsewhere.

``SmsCampaignDashboard`` is the Airflow plugin: ``fastapi_apps`` mounts the dashboard at ``/sms-rt`` (every
route requires an Airflow user with read access to the pipeline's DAGs); ``external_views`` adds "SMS
campaigns" to the navigation (the dashboard in the UI's frame) and a "Wave report" tab on DAG runs that opens
the report of the wave a ``sms_campaign_wave`` run sent. Airflow finds it through the package's
``airflow.plugins`` entry point wherever the package is installed; ``plugins/sms_rt_dashboard.py`` re-exports it
for a plugins folder that carries the packages without installing them.

This module stays import-light: Airflow loads plugins in every component (the task runner loads them for
their macros), so the plugin hands Airflow ``LazyDashboard``, which imports FastAPI, the security helpers
and the pages on the first request the API server routes to it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/sms-rt"
# The DAGs whose read access a page needs: each page shows what that DAG produces.
METRICS_DAG_ID = "sms_campaign_metrics"
WAVE_DAG_ID = "sms_campaign_wave"
TRACKING_DAG_ID = "sms_response_tracking"


class LazyDashboard:
    """An ASGI app that builds the dashboard's FastAPI app on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            from sms_rt_airflow.dashboard.app import create_app

            self._app = create_app()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


# hrefs are relative to the UI's base URL, so the dashboard follows [api] base_url.
HREF = URL_PREFIX.lstrip("/")


class SmsCampaignDashboard(AirflowPlugin):
    name = "sms_campaign_dashboard"
    fastapi_apps = [{"app": LazyDashboard(), "url_prefix": URL_PREFIX, "name": "SMS campaign dashboard"}]
    external_views = [
        {"name": "SMS campaigns", "href": f"{HREF}/", "destination": "nav", "url_route": "sms-campaigns",
         "nav_top_level": True, "icon": f"{HREF}/static/icon.svg"},
        # On every DAG's runs (a view cannot be limited to one DAG); for other DAGs the page says so.
        {"name": "Wave report", "href": f"{HREF}/runs/{{DAG_ID}}/{{RUN_ID}}", "destination": "dag_run",
         "url_route": "sms-wave-report"},
    ]
