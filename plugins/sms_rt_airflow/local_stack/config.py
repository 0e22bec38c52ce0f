"""What a local stack is made of before anything runs: its settings, ports, ``airflow.cfg``,
component environment and metadata database.

``StackConfig`` holds what differs between stacks; ``airflow_options`` turns it into the
``airflow.cfg`` options (LocalExecutor, or CeleryExecutor with ``celery`` set; SimpleAuthManager with every
user admin, loopback ports),
``write_airflow_cfg`` writes them, ``component_env`` builds the environment every ``airflow``
process of the stack gets, and ``create_database`` / ``drop_database`` manage the metadata database
on the PostgreSQL server (SQLite cannot serve LocalExecutor's parallel workers).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from sms_response.settings import project_home
from sms_rt_airflow.local_stack.celery import CeleryConfig, celery_options

# The repository root (``SMS_RT_HOME`` overrides): this package is installed editable from plugins/.
REPO = project_home()
AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass(frozen=True)
class StackConfig:
    """What differs between stacks. ``server_url`` is a libpq URL of the server that gets the metadata DB."""

    server_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    dags_folder: Path = REPO / "dags"
    plugins_folder: Path = REPO / "plugins"
    home: Path | None = None  # default: a new temporary directory, removed on exit
    db_prefix: str = "airflow_live"
    parallelism: int = 4
    startup_timeout: float = 180.0
    shutdown_timeout: float = 30.0
    # Extra airflow.cfg options: {("scheduler", "use_job_schedule"): "False"}
    options: Mapping[tuple[str, str], str] = field(default_factory=dict)
    keep_home: bool = False
    # CeleryExecutor with a broker and workers of its own (local_stack.celery); None: LocalExecutor.
    celery: CeleryConfig | None = None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def base_url(port: int) -> str:
    """The api-server's address on loopback."""
    return f"http://127.0.0.1:{port}"


def sqlalchemy_url(libpq: Mapping[str, str], dbname: str, driver: str) -> str:
    """A SQLAlchemy URL for ``dbname`` on the server ``libpq`` describes (TCP or Unix socket)."""
    from sqlalchemy.engine import URL

    host = libpq.get("host") or None
    query: dict[str, str] = {}
    if host and host.startswith("/"):  # Unix socket directory: libpq takes it as ?host=
        query["host"] = host
        host = None
    port = int(libpq["port"]) if libpq.get("port") and host else None
    return URL.create(
        driver, username=libpq.get("user") or None, password=libpq.get("password") or None,
        host=host, port=port, database=dbname, query=query,
    ).render_as_string(hide_password=False)


def embedded_server_url() -> str:
    """The embedded PostgreSQL server the library uses when no URL is configured."""
    from sms_response.db import embedded_url
    from sms_response.settings import Settings

    return str(embedded_url(Settings.from_env().embedded_pgdata))


def fernet_key() -> str:
    """A new key for the stack's encrypted connection and variable fields."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def airflow_options(
    config: StackConfig, home: Path, port: int, namespace: str = "sms_rt"
) -> dict[tuple[str, str], str]:
    """The ``airflow.cfg`` options of a stack whose api-server listens on ``port``; ``config.options`` win.
    ``namespace`` names a Celery stack's queue and broker key prefix."""
    url = base_url(port)
    return {
        ("core", "executor"): "LocalExecutor",
        ("core", "dags_folder"): str(config.dags_folder),
        ("core", "plugins_folder"): str(config.plugins_folder),
        ("core", "load_examples"): "False",
        ("core", "parallelism"): str(config.parallelism),
        ("core", "dags_are_paused_at_creation"): "True",
        ("core", "auth_manager"): AUTH_MANAGER,
        ("core", "simple_auth_manager_all_admins"): "True",
        ("core", "execution_api_server_url"): f"{url}/execution/",
        ("core", "fernet_key"): fernet_key(),
        ("core", "unit_test_mode"): "False",
        ("database", "sql_alchemy_pool_size"): "3",
        ("database", "sql_alchemy_max_overflow"): "5",
        ("api", "host"): "127.0.0.1",
        ("api", "port"): str(port),
        ("api", "base_url"): url,
        ("api", "workers"): "1",
        # uvicorn's keep-alive and graceful-shutdown timeout: a quick stop even with clients connected.
        ("api", "worker_timeout"): "10",
        ("api", "secret_key"): secrets.token_urlsafe(32),
        ("api", "expose_stacktrace"): "True",
        ("api_auth", "jwt_secret"): secrets.token_urlsafe(32),
        ("logging", "base_log_folder"): str(home / "logs"),
        ("logging", "worker_log_server_port"): str(free_port()),
        ("logging", "trigger_log_server_port"): str(free_port()),
        ("logging", "logging_level"): "INFO",
        ("dag_processor", "refresh_interval"): "10",
        ("dag_processor", "parsing_processes"): "1",
        ("scheduler", "scheduler_heartbeat_sec"): "2",
        ("scheduler", "enable_health_check"): "False",
        **(celery_options(config.celery, namespace) if config.celery else {}),
        **dict(config.options),
    }


def write_airflow_cfg(path: Path, options: Mapping[tuple[str, str], str]) -> None:
    """Write ``options`` as an ini file, one section each, in first-seen order (``%`` escaped)."""
    lines: list[str] = []
    for section in dict.fromkeys(s for s, _ in options):
        lines.append(f"[{section}]")
        lines += [f"{k} = {v.replace('%', '%%')}" for (s, k), v in options.items() if s == section]
        lines.append("")
    path.write_text("\n".join(lines))


def component_env(config: StackConfig, home: Path, db_name: str) -> dict[str, str]:
    """The environment of every ``airflow`` process of the stack, ``config.env`` last."""
    # Inherited AIRFLOW__* variables (a test session's own Airflow settings) would override the
    # file: start from a clean environment. The DB URLs go through the environment because the
    # socket path would need escaping in the file.
    libpq = {k: str(v) for k, v in conninfo_to_dict(config.server_url).items() if v is not None}
    db_url = sqlalchemy_url(libpq, db_name, "postgresql+psycopg")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": db_url,
        "GX_ANALYTICS_ENABLED": "false",
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(config.env)
    return env


def create_database(server_url: str, name: str) -> None:
    """Create the (empty) metadata database ``name`` on the server."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(server_url: str, name: str) -> None:
    """Drop ``name``, disconnecting whoever is still connected to it."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
