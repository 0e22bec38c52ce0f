"""Airflow plugin: the SMS campaign dashboard inside the Airflow UI (``sms_rt_airflow.dashboard``).

Airflow registers the plugin through the installed package's ``airflow.plugins`` entry point, so this file is
listed in ``plugins/.airflowignore`` (loading it as well would register the plugin twice). It is the same plugin
for a plugins folder that carries the packages without installing them (a managed Airflow's plugins archive):
there, take the line out of ``.airflowignore``.

Thin on purpose: the app is built on its first request.
"""

from __future__ import annotations

from sms_rt_airflow.dashboard import SmsCampaignDashboard

__all__ = ["SmsCampaignDashboard"]
