"""The Airflow environment of local runs (demo, benchmarks): metadata on SQLite under .local/."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def airflow_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home or REPO / ".local" / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "GX_ANALYTICS_ENABLED": "false",
            "XDG_RUNTIME_DIR": env.get("XDG_RUNTIME_DIR", "/tmp"),
        }
    )
    env.update(extra)
    return env
