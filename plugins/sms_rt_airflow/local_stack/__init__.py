"""A real, throw-away Airflow 3 deployment on loopback: for live end-to-end tests and local trials.

``AirflowStack`` (a context manager) creates a fresh metadata database on a PostgreSQL server
(SQLite cannot serve LocalExecutor's parallel workers), writes ``airflow.cfg`` into a temporary
``AIRFLOW_HOME`` (LocalExecutor, SimpleAuthManager with every user admin, free loopback ports),
runs ``airflow db migrate`` and starts ``api-server``, ``scheduler``, ``dag-processor`` and
``triggerer`` as subprocesses, each in its own process group with its log in ``<home>/logs/``. It
waits for ``/api/v2/monitor/health`` to report every component healthy. With ``StackConfig(celery=
CeleryConfig(...))`` it runs CeleryExecutor instead, with Redis as the broker and Celery workers as further
components (``local_stack.celery``; the topology of docker-compose.yaml). On exit it sends SIGTERM to
every process group (and to any descendant that left its group), SIGKILL after a deadline, checks
that no process of the stack is left, and drops the metadata database.

    with AirflowStack(StackConfig(server_url="postgresql://postgres@127.0.0.1:5432/postgres",
                                  env={"AIRFLOW_CONN_SMS_PLATFORM": ...})) as stack:
        client = stack.api_client()        # airflow_client.client.ApiClient with a JWT
        stack.cli("backfill", "create", "--dag-id", ...)

CLI: ``python scripts/airflow_stack.py up [--server-url URL] [--celery-workers N]`` (or ``python -m
sms_rt_airflow.local_stack.cli up``) starts a stack and keeps it up until Ctrl-C, printing the UI
address; the server defaults to ``SMS_RT_TEST_DATABASE_URL``, else the embedded PostgreSQL server
under ``.local/``.

Modules: ``config`` (settings, ``airflow.cfg``, environment, metadata database), ``processes``
(component processes and their shutdown), ``celery`` (CeleryExecutor and its workers), ``cli`` (the ``up``
command).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import psycopg

from sms_rt_airflow.local_stack.celery import (
    CeleryConfig,
    Workload,
    clear_broker,
    component_name,
    executed_workloads,
    worker_command,
    worker_ready,
)
from sms_rt_airflow.local_stack.config import (
    REPO,
    StackConfig,
    airflow_options,
    base_url,
    component_env,
    create_database,
    drop_database,
    embedded_server_url,
    free_port,
    write_airflow_cfg,
)
from sms_rt_airflow.local_stack.processes import (
    Components,
    StackError,
    describe,
    log_tail,
    run_airflow,
    wait_until,
)

__all__ = [
    "COMPONENTS", "HEALTH_KEYS", "REPO", "AirflowStack", "CeleryConfig", "StackConfig", "StackError", "Workload",
    "airflow_stack", "close_client", "embedded_server_url", "free_port", "wait_until",
]

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class AirflowStack:
    """See the package docstring. Attributes are valid between ``start()`` and ``stop()``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = Path(config.home) if config.home else Path(tempfile.mkdtemp(prefix="sms-rt-airflow-"))
        self.port = 0
        self.base_url = ""
        self.db_name = f"{config.db_prefix}_{secrets.token_hex(4)}"
        self.env: dict[str, str] = {}
        self.components = Components(self.home)
        self.timings: dict[str, float] = {}
        self._db_created = False
        self._token: str | None = None

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        """The running components by name."""
        return self.components.procs

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the metadata DB, write the config, migrate, start every component and wait until healthy."""
        t0 = time.monotonic()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        create_database(self.config.server_url, self.db_name)
        self._db_created = True
        self.port = free_port()
        self.base_url = base_url(self.port)
        # The metadata DB's name is unique: it also names a Celery stack's queue and broker key prefix.
        write_airflow_cfg(self.home / "airflow.cfg", airflow_options(self.config, self.home, self.port, self.db_name))
        self.env = component_env(self.config, self.home, self.db_name)
        t1 = time.monotonic()
        self.cli("db", "migrate", timeout=300, log_name="db-migrate")
        self.timings["migrate_s"] = time.monotonic() - t1
        for name in COMPONENTS:
            args = ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"] if name == "api-server" else []
            self.components.spawn(name, args, self.env)
        celery = self.config.celery
        if celery:
            for worker in celery.workers:
                self.components.spawn(component_name(worker), [], self.env,
                                      command=worker_command(worker, celery, self.db_name))
        self.wait_healthy(self.config.startup_timeout)
        if celery:
            self.wait_workers_ready(celery)
        self.timings["start_s"] = time.monotonic() - t0

    def stop(self) -> None:
        """Terminate every component's process group, verify nothing is left, drop the metadata DB."""
        t0 = time.monotonic()
        errors: list[str] = []
        try:
            self.components.terminate(self.config.shutdown_timeout)
            left = self.leftover_processes()
            if left:
                errors.append("processes left after shutdown: " + ", ".join(describe(p) for p in left))
        finally:
            self.procs.clear()
            if self.config.celery and self._db_created:
                try:
                    clear_broker(self.config.celery, self.db_name)
                except Exception as exc:  # redis.RedisError and connection errors: report, keep stopping
                    errors.append(f"could not delete the keys {self.db_name}:* on the broker: {exc}")
            try:
                self._drop_database()
            except psycopg.Error as exc:
                errors.append(f"could not drop metadata database {self.db_name}: {exc}")
            if not self.config.keep_home and self.config.home is None and self.home.exists():
                shutil.rmtree(self.home, ignore_errors=True)
        self.timings["stop_s"] = time.monotonic() - t0
        if errors:
            raise StackError("; ".join(errors))

    def _drop_database(self) -> None:
        if self._db_created:
            drop_database(self.config.server_url, self.db_name)
            self._db_created = False

    # -- processes ---------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 120, log_name: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this stack (same home, config and environment)."""
        return run_airflow(args, self.env, self.home, timeout=timeout, log_name=log_name, check=check)

    def log_tail(self, name: str, lines: int = 40) -> str:
        return log_tail(self.home, name, lines)

    def check_alive(self) -> None:
        """Raise ``StackError`` with its log tail if a component has exited."""
        self.components.check_alive()

    def leftover_processes(self) -> list[psutil.Process]:
        """Processes of this stack still alive (should be empty after ``stop()``)."""
        return self.components.leftover()

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Poll /api/v2/monitor/health until every component is healthy; fail fast if one exits."""
        from airflow_client.client import ApiClient, Configuration, MonitorApi

        deadline = time.monotonic() + timeout
        last: Any = None
        api = ApiClient(Configuration(host=self.base_url))
        try:
            monitor = MonitorApi(api)
            while time.monotonic() < deadline:
                self.check_alive()
                self.components.track()
                try:
                    health = monitor.get_health(_request_timeout=5).to_dict()
                except Exception as exc:  # connection refused while the server starts
                    last = exc
                else:
                    last = health
                    if all((health.get(k) or {}).get("status") == "healthy" for k in HEALTH_KEYS):
                        return dict(health)
                time.sleep(1)
        finally:
            close_client(api)
        raise StackError(f"stack not healthy after {timeout:.0f} s (last answer: {last}); logs in {self.home / 'logs'}")

    def wait_workers_ready(self, celery: CeleryConfig) -> None:
        """Wait until every Celery worker has said it is ready (it then consumes the stack's queue)."""
        deadline = time.monotonic() + celery.ready_timeout
        waiting = list(celery.workers)
        while waiting:
            self.check_alive()
            self.components.track()
            waiting = [w for w in waiting if not worker_ready(self.log_tail(component_name(w), 400), w)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise StackError(f"Celery workers {waiting} not ready after {celery.ready_timeout:.0f} s; logs in "
                                 f"{self.home / 'logs'}")
            time.sleep(0.5)

    def worker_logs(self) -> dict[str, Path]:
        """{worker: its log file} of a Celery stack (empty for LocalExecutor)."""
        workers = self.config.celery.workers if self.config.celery else ()
        return {w: self.home / "logs" / f"{component_name(w)}.log" for w in workers}

    def executed_workloads(self) -> list[Workload]:
        """Every task instance attempt each Celery worker says it executed."""
        return executed_workloads(self.worker_logs())

    # -- REST --------------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT from the api-server's token endpoint (``GET /auth/token``: all users are admins here)."""
        if self._token is None:
            from airflow_client.client import ApiClient, Configuration

            api = ApiClient(Configuration(host=self.base_url))
            try:
                params = api.param_serialize(method="GET", resource_path="/auth/token")
                response: Any = api.call_api(*params, _request_timeout=30)
                body: bytes = response.read() or b""
            finally:
                close_client(api)
            if response.status not in (200, 201):
                raise StackError(f"GET /auth/token answered {response.status}: {body[:300]!r}")
            self._token = str(json.loads(body)["access_token"])
        return self._token

    @contextlib.contextmanager
    def api_client(self) -> Iterator[Any]:
        """An ``airflow_client.client.ApiClient`` with a JWT for this stack; its connections close on exit."""
        from airflow_client.client import ApiClient, Configuration

        api = ApiClient(Configuration(host=self.base_url, access_token=self.token()))
        try:
            yield api
        finally:
            close_client(api)


def close_client(api: Any) -> None:
    """Close an ApiClient's pooled keep-alive connections (its ``__exit__`` does not); the api-server's
    graceful shutdown would otherwise wait for them."""
    with contextlib.suppress(Exception):
        api.rest_client.pool_manager.clear()


@contextlib.contextmanager
def airflow_stack(config: StackConfig) -> Iterator[AirflowStack]:
    """``AirflowStack(config)`` as a generator-style context manager."""
    with AirflowStack(config) as stack:
        yield stack
