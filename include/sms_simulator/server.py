"""Run the simulator in a background thread, for tests and embedded demos."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any

import uvicorn

from .app import ApiConfig, SimulatorRuntime, create_app, get_runtime
from .faults import FaultConfig, PageGate
from .sends import PushState
from .state import PlatformState
from .wave import WaveBehaviour


class _Server(uvicorn.Server):
    """uvicorn.Server that signals once startup has finished, successfully or not."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_done = threading.Event()

    def run(self, sockets: Any = None) -> None:
        try:
            super().run(sockets=sockets)
        finally:
            # Startup failure ends the thread via SystemExit; wake the waiter either way.
            self.startup_done.set()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.startup_done.set()


class SimulatorServer:
    """Context manager serving ``state`` on 127.0.0.1 with an OS-picked port.

    >>> with SimulatorServer(state, token="t") as sim:  # doctest: +SKIP
    ...     requests.get(f"{sim.base_url}/healthz")
    """

    def __init__(
        self,
        state: PlatformState,
        *,
        token: str,
        faults: FaultConfig | None = None,
        behaviour: WaveBehaviour | None = None,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.state = state
        self.app = create_app(
            state, ApiConfig(token=token, faults=faults or FaultConfig()), behaviour=behaviour, clock=clock
        )
        self._host = host
        self._port = port
        self._log_level = log_level
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    @property
    def runtime(self) -> SimulatorRuntime:
        return get_runtime(self.app)

    @property
    def push(self) -> PushState:
        """The push side: sends, short links, send gate and wave truth."""
        push: PushState = self.app.state.push
        return push

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("server is not running")
        return self._base_url

    @property
    def port(self) -> int:
        if self._server is None or not self._server.started:
            raise RuntimeError("server is not running")
        sockets = self._server.servers[0].sockets
        port: int = sockets[0].getsockname()[1]
        return port

    @property
    def page_gate(self) -> PageGate:
        """Holds event-API pages (a client killed mid-download at a known page)."""
        return self.runtime.page_gate

    def set_faults(self, faults: FaultConfig) -> None:
        self.runtime.decider.config = faults

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats.snapshot()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("server already started")
        config = uvicorn.Config(
            self.app,
            host=self._host,
            port=self._port,
            log_level=self._log_level,
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = _Server(config)
        thread = threading.Thread(target=server.run, name="sms-simulator", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        if not server.startup_done.wait(self._startup_timeout) or not server.started:
            self.stop()
            raise RuntimeError(f"simulator did not start on {self._host}:{self._port}")
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._base_url = f"http://{host}:{self.port}"
        self.push.public_base = self._base_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        # A batch held by the send gate would otherwise pin a worker thread past shutdown.
        self.push.send_gate.release()
        self.page_gate.release()
        server.should_exit = True
        thread.join(self._shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(self._shutdown_timeout)
        self._server = self._thread = None
        self._base_url = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
