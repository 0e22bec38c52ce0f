"""A real, throw-away Airflow 3 deployment on loopback: for live end-to-end tests and local trials.

``AirflowStack`` (a context manager) creates a fresh metadata database on a PostgreSQL server
(SQLite cannot serve LocalExecutor's parallel workers), writes ``airflow.cfg`` into a temporary
``AIRFLOW_HOME`` (LocalExecutor, SimpleAuthManager with every user admin, free loopback ports),
runs ``airflow db migrate`` and starts ``api-server``, ``scheduler``, ``dag-processor`` and
``triggerer`` as subprocesses, each in its own process group with its log in ``<home>/logs/``. It
waits for ``/api/v2/monitor/health`` to report every component healthy. On exit it sends SIGTERM to
every process group (and to any descendant that left its group), SIGKILL after a deadline, checks
that no process of the stack is left, and drops the metadata database.

    with AirflowStack(StackConfig(server_url="postgresql://postgres@127.0.0.1:5432/postgres",
                                  env={"AIRFLOW_CONN_SMS_PLATFORM": ...})) as stack:
        client = stack.api_client()        # airflow_client.client.ApiClient with a JWT
        stack.cli("backfill", "create", "--dag-id", ...)

CLI: ``python scripts/airflow_stack.py up [--server-url URL]`` starts a stack and keeps it up until
Ctrl-C, printing the UI address; the server defaults to ``SMS_RT_TEST_DATABASE_URL``, else the
embedded PostgreSQL server under ``.local/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class StackError(RuntimeError):
    """The stack did not come up (or down) as expected; the message names the component and its log."""


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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def sqlalchemy_url(libpq: Mapping[str, str], dbname: str, driver: str) -> str:
    """A SQLAlchemy URL for ``dbname`` on the server ``libpq`` describes (TCP or Unix socket)."""
    from sqlalchemy.engine import URL

    host = libpq.get("host") or None
    query = {}
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


class AirflowStack:
    """See the module docstring. Attributes are valid between ``start()`` and ``stop()``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = Path(config.home) if config.home else Path(tempfile.mkdtemp(prefix="sms-rt-airflow-"))
        self.port = 0
        self.base_url = ""
        self.db_name = f"{config.db_prefix}_{secrets.token_hex(4)}"
        self.env: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}
        self._known: dict[int, psutil.Process] = {}
        self._db_created = False
        self._token: str | None = None

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
        t0 = time.monotonic()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self._create_database()
        self._write_config()
        t1 = time.monotonic()
        self.cli("db", "migrate", timeout=300, log_name="db-migrate")
        self.timings["migrate_s"] = time.monotonic() - t1
        for name in COMPONENTS:
            self._spawn(name)
        self.wait_healthy(self.config.startup_timeout)
        self.timings["start_s"] = time.monotonic() - t0

    def stop(self) -> None:
        """Terminate every component's process group, verify nothing is left, drop the metadata DB."""
        t0 = time.monotonic()
        errors: list[str] = []
        try:
            self._terminate_all()
            left = self.leftover_processes()
            if left:
                errors.append("processes left after shutdown: " + ", ".join(f"{p.pid} {_cmd(p)}" for p in left))
        finally:
            self.procs.clear()
            try:
                self._drop_database()
            except psycopg.Error as exc:
                errors.append(f"could not drop metadata database {self.db_name}: {exc}")
            if not self.config.keep_home and self.config.home is None and self.home.exists():
                shutil.rmtree(self.home, ignore_errors=True)
        self.timings["stop_s"] = time.monotonic() - t0
        if errors:
            raise StackError("; ".join(errors))

    # -- configuration -----------------------------------------------------------------------

    def _create_database(self) -> None:
        with psycopg.connect(self.config.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.db_name)))
        self._db_created = True

    def _drop_database(self) -> None:
        if not self._db_created:
            return
        with psycopg.connect(self.config.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.db_name)))
        self._db_created = False

    def _write_config(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        libpq = {k: str(v) for k, v in conninfo_to_dict(self.config.server_url).items() if v is not None}
        options: dict[tuple[str, str], str] = {
            ("core", "executor"): "LocalExecutor",
            ("core", "dags_folder"): str(self.config.dags_folder),
            ("core", "plugins_folder"): str(self.config.plugins_folder),
            ("core", "load_examples"): "False",
            ("core", "parallelism"): str(self.config.parallelism),
            ("core", "dags_are_paused_at_creation"): "True",
            ("core", "auth_manager"): "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            ("core", "simple_auth_manager_all_admins"): "True",
            ("core", "execution_api_server_url"): f"{self.base_url}/execution/",
            ("core", "fernet_key"): _fernet_key(),
            ("core", "unit_test_mode"): "False",
            ("database", "sql_alchemy_pool_size"): "3",
            ("database", "sql_alchemy_max_overflow"): "5",
            ("api", "host"): "127.0.0.1",
            ("api", "port"): str(self.port),
            ("api", "base_url"): self.base_url,
            ("api", "workers"): "1",
            # uvicorn's keep-alive and graceful-shutdown timeout: a quick stop even with clients connected.
            ("api", "worker_timeout"): "10",
            ("api", "secret_key"): secrets.token_urlsafe(32),
            ("api", "expose_stacktrace"): "True",
            ("api_auth", "jwt_secret"): secrets.token_urlsafe(32),
            ("logging", "base_log_folder"): str(self.home / "logs"),
            ("logging", "worker_log_server_port"): str(free_port()),
            ("logging", "trigger_log_server_port"): str(free_port()),
            ("logging", "logging_level"): "INFO",
            ("dag_processor", "refresh_interval"): "10",
            ("dag_processor", "parsing_processes"): "1",
            ("scheduler", "scheduler_heartbeat_sec"): "2",
            ("scheduler", "enable_health_check"): "False",
            **dict(self.config.options),
        }
        lines: list[str] = []
        for section in dict.fromkeys(s for s, _ in options):
            lines.append(f"[{section}]")
            lines += [f"{k} = {v.replace('%', '%%')}" for (s, k), v in options.items() if s == section]
            lines.append("")
        (self.home / "airflow.cfg").write_text("\n".join(lines))
        # Inherited AIRFLOW__* variables (a test session's own Airflow settings) would override the
        # file: start from a clean environment. The DB URLs go through the environment because the
        # socket path would need escaping in the file.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(libpq, self.db_name, "postgresql+psycopg"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": sqlalchemy_url(libpq, self.db_name, "postgresql+psycopg"),
            "GX_ANALYTICS_ENABLED": "false",
            "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.config.env)
        self.env = env

    # -- processes ---------------------------------------------------------------------------

    def _airflow(self) -> str:
        exe = Path(sys.executable).parent / "airflow"
        return str(exe) if exe.exists() else "airflow"

    def cli(self, *args: str, timeout: float = 120, log_name: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this stack (same home, config and environment)."""
        out = subprocess.run([self._airflow(), *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                             start_new_session=True)
        if log_name:
            (self.home / "logs" / f"{log_name}.log").write_text(out.stdout + out.stderr)
        if check and out.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} exited {out.returncode}:\n{(out.stdout + out.stderr)[-3000:]}")
        return out

    def _spawn(self, name: str) -> None:
        args = [self._airflow(), name]
        if name == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        log = (self.home / "logs" / f"{name}.log").open("ab")
        try:
            # Own session = own process group: stop() signals the component and everything it forked.
            proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        self.procs[name] = proc
        self._track(proc.pid)

    def _track(self, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            self._known[p.pid] = p
            for c in p.children(recursive=True):
                self._known[c.pid] = c

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.home / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise StackError(f"airflow {name} exited with {proc.returncode}; log tail:\n{self.log_tail(name)}")

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Poll /api/v2/monitor/health until every component is healthy; fail fast if one exits."""
        from airflow_client.client import ApiClient, Configuration, MonitorApi

        deadline = time.monotonic() + timeout
        last: Any = None
        api = ApiClient(Configuration(host=self.base_url))
        try:
            monitor = MonitorApi(api)
            while time.monotonic() < deadline:
                self._check_alive()
                for proc in self.procs.values():
                    self._track(proc.pid)
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

    def _group_members(self) -> list[psutil.Process]:
        """Every live process of the stack: known descendants plus whatever still carries our AIRFLOW_HOME."""
        for proc in self.procs.values():
            self._track(proc.pid)
        found = {p.pid: p for p in self._known.values() if _alive(p)}
        for p in _processes_with_home(self.home):
            found.setdefault(p.pid, p)
        found.pop(os.getpid(), None)
        return list(found.values())

    def _terminate_all(self) -> None:
        if not self.procs and not self._known:
            return
        members = self._group_members()
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        for p in members:  # descendants that started their own group or session
            with contextlib.suppress(psutil.Error):
                p.terminate()
        deadline = time.monotonic() + self.config.shutdown_timeout
        while time.monotonic() < deadline:
            for proc in self.procs.values():
                proc.poll()
            if not [p for p in members if _alive(p)] and all(proc.poll() is not None for proc in self.procs.values()):
                break
            time.sleep(0.3)
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for p in self._group_members():
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs([p for p in members if _alive(p)], timeout=5)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def leftover_processes(self) -> list[psutil.Process]:
        """Processes of this stack still alive (should be empty after ``stop()``)."""
        left = [p for p in self._known.values() if _alive(p)]
        left += [p for p in _processes_with_home(self.home) if p.pid not in {q.pid for q in left}]
        return [p for p in left if p.pid != os.getpid()]

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


def _alive(p: psutil.Process) -> bool:
    try:
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _processes_with_home(home: Path) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("AIRFLOW_HOME") == str(home) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


def _cmd(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())[:120]
    except psutil.Error:
        return "?"


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 1.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(interval)


@contextlib.contextmanager
def airflow_stack(config: StackConfig) -> Iterator[AirflowStack]:
    with AirflowStack(config) as stack:
        yield stack


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/airflow_stack.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a stack and keep it up until Ctrl-C")
    up.add_argument("--server-url", default=os.environ.get("SMS_RT_TEST_DATABASE_URL"),
                    help="PostgreSQL server for the metadata DB (default: $SMS_RT_TEST_DATABASE_URL, else embedded)")
    up.add_argument("--parallelism", type=int, default=4)
    args = parser.parse_args(argv)
    server = args.server_url or embedded_server_url()
    # Connections and SMS_RT_* settings of the caller's environment reach the tasks.
    passthrough = {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_CONN_", "SMS_RT_"))}
    stack = AirflowStack(StackConfig(server_url=server, env=passthrough, parallelism=args.parallelism))
    stop = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    with stack:
        print(f"Airflow is up in {stack.timings['start_s']:.1f} s: {stack.base_url} (every user is admin); "
              f"AIRFLOW_HOME={stack.home}; metadata DB {stack.db_name}. Ctrl-C stops it.", flush=True)
        try:
            while not stop:
                time.sleep(1)
                stack._check_alive()
        except KeyboardInterrupt:
            pass
    print(f"stopped in {stack.timings['stop_s']:.1f} s; no process left", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
