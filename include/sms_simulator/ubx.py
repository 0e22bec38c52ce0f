"""The simulator as an Acoustic Exchange (UBX) subscriber endpoint: ``start(sim, workdir)``.

Serves the published record log of a running ``SimulatorServer`` as UBX event files (``ubx_files``,
rendered by ``ubx_render``, routes in ``ubx_routes``) on its own loopback port, and yields what
``AIRFLOW_CONN_SMS_PLATFORM`` needs to point the pipeline at it::

    with SimulatorServer(state, token=t) as sim, ubx.start(sim, tmp_path) as conn:
        monkeypatch.setenv("AIRFLOW_CONN_SMS_PLATFORM", json.dumps(conn))

The truth stays the simulator's (``sim.state.truth``, ``/sim/truth/*`` on ``sim.base_url``): the files
hold exactly the records the event API would serve.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from .server import SimulatorServer
from .ubx_files import ListingQuirks, UbxFiles
from .ubx_render import UbxShape
from .ubx_routes import create_ubx_app

__all__ = ["ListingQuirks", "UbxShape", "start"]


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_done = threading.Event()

    def run(self, sockets: Any = None) -> None:
        try:
            super().run(sockets=sockets)
        finally:
            self.startup_done.set()  # a failed startup ends the thread: wake the waiter either way

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.startup_done.set()


@contextmanager
def _serve(app: FastAPI, timeout: float = 10.0) -> Iterator[int]:
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                    access_log=False, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="ubx-endpoint", daemon=True)
    thread.start()
    try:
        if not server.startup_done.wait(timeout) or not server.started:
            raise RuntimeError("the UBX endpoint simulator did not start on 127.0.0.1")
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)


@contextmanager
def start(
    sim: SimulatorServer,
    workdir: Path,
    *,
    period: timedelta = timedelta(minutes=5),
    max_records: int = 500,
    quirks: ListingQuirks | None = None,
    mailing_attribute: str = "campaignName",
    next_as_link: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Serve ``sim``'s records as UBX event files (written under ``workdir``) until the block ends.

    ``period`` and ``max_records`` cut the files, ``quirks`` shape the listing, ``mailing_attribute`` is
    where the unique mailing name travels, ``next_as_link`` makes a list page's ``next`` the path of the
    next page instead of a cursor.

    Yields the ``sms_platform`` connection (``conn_type``, ``host``, ``port``, ``schema``, ``login``,
    ``password`` = the endpoint's authentication key, ``extra`` with ``platform: ubx`` plus ``extra``).
    """
    campaign = sim.state.campaign
    shape = UbxShape(mailing_attribute=mailing_attribute,
                     program=(campaign.program_id, campaign.program_name) if campaign is not None else None)
    files = UbxFiles(sim.state, Path(workdir) / "ubx-eventfiles", shape, period=period, max_records=max_records,
                     quirks=quirks or ListingQuirks())
    auth_key = secrets.token_urlsafe(24)
    app = create_ubx_app(files, auth_key, sim.runtime.decider, next_as_link=next_as_link)
    with _serve(app) as port:
        ubx_extra: dict[str, Any] = {"platform": "ubx", **(extra or {})}
        if mailing_attribute != "campaignName":
            ubx_extra.setdefault("ubx_mailing_attribute", mailing_attribute)
        yield {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "login": "sms-response",
               "password": auth_key, "extra": ubx_extra}
