"""Airflow plugin: the SMS campaign dashboard inside the Airflow UI.

* ``fastapi_apps``: the dashboard (``sms_rt_airflow.dashboard``) mounted by the API server at ``/sms-rt``;
  every route requires an Airflow user with read access to the pipeline's DAGs.
* ``external_views``: "SMS campaigns" in the navigation (the dashboard in the UI's frame), and a
  "Wave report" tab on DAG runs that opens the report of the wave a ``sms_campaign_wave`` run sent.

Thin on purpose: Airflow executes this file in every component, so the app is built on its first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from sms_rt_airflow.dashboard import URL_PREFIX, LazyDashboard

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
