"""The campaign dashboard: a FastAPI app the Airflow API server mounts (plugin ``plugins/sms_rt_dashboard.py``).

* ``app``: the routes (every one GET, every one behind Airflow's own authentication and DAG read access),
  error pages, headers;
* ``pages``: what each page shows, read through ``sms_response.metrics.read`` and ``sms_response.health``
  (metric and bookkeeping tables only, never the event tables);
* ``charts``: SVG charts drawn on the server; ``formatting``: how figures read;
* ``db``: the read-only connection to the response database (through ``ResponseDbHook``);
* ``templates/`` (Jinja2, autoescaped) and ``static/`` (the stylesheet): nothing is loaded from elsewhere.

This module stays import-light: Airflow executes plugin files in every component (the task runner loads
plugins for their macros), so the plugin hands Airflow ``LazyDashboard``, which imports FastAPI, the
security helpers and the pages on the first request the API server routes to it.
"""

from __future__ import annotations

from typing import Any

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
