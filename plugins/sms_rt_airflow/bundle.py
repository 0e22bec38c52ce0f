"""The package's DAG files as an Airflow 3 DAG bundle, for an Airflow the package is installed into.

The wheel ships the files of ``dags/`` as the package ``sms_rt_dags`` (never imported: Airflow parses the files).
An existing Airflow serves them, beside its own DAGs folder, with one setting on the dag-processor and every
worker (``[dag_processor] dag_bundle_config_list``, i.e. ``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST``)::

    [{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
     {"name": "sms_response_tracking", "classpath": "sms_rt_airflow.bundle.SmsRtDagBundle", "kwargs": {}}]

A new version of the package is a new version of the DAGs: ``pip install`` the wheel and restart. Where bundles
cannot be configured (some managed services), copy the files of ``dags/`` into the DAGs folder instead
(docs/deployment.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from airflow.dag_processing.bundles.local import LocalDagBundle

DAGS_PACKAGE = "sms_rt_dags"
MARKER_FILE = "sms_response_tracking.py"  # the main DAG's file: proves the folder is the right one


class BundleError(RuntimeError):
    """The package's DAG files cannot be found (the package was installed without them)."""


def packaged_dags_dir() -> Path:
    """Where the installed package's DAG files are (the checkout's ``dags/`` for an editable install)."""
    spec = importlib.util.find_spec(DAGS_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location)
        if (path / MARKER_FILE).is_file():
            return path
    raise BundleError(f"the DAG files of sms-response-tracking ({DAGS_PACKAGE}/{MARKER_FILE}) are not installed; "
                      "reinstall the wheel, or copy dags/ into the DAGs folder instead of using the bundle")


class SmsRtDagBundle(LocalDagBundle):
    """A local bundle whose path is the installed package's DAG folder (``kwargs`` may still override it)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("path", str(packaged_dags_dir()))
        super().__init__(**kwargs)
