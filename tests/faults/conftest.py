"""Fixtures of the fault suite: one simulator campaign spread over a day (``fault_helpers.CAMPAIGN``), one
fault-free reference of the fault window, fresh schemas, and a dedicated PostgreSQL server a test may stop."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from fault_helpers import (
    CAMPAIGN,
    FAULT_WINDOW,
    PAGE_SIZE,
    DedicatedPostgres,
    Reference,
    fingerprint_of,
    import_in_process,
    mailings_of,
    new_schema,
    publish,
    reconciles,
)

from sms_response.db import connect, drop_schema
from sms_response.download import download_window
from sms_response.platform import SmsPlatformClient
from sms_response.segments import refresh_segments
from sms_simulator import SimulatorServer, build_state


@pytest.fixture(scope="session")
def fault_token() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def fault_sim(fault_token: str) -> Iterator[SimulatorServer]:
    with SimulatorServer(build_state(CAMPAIGN), token=fault_token) as sim:
        yield sim


@pytest.fixture
def fresh_schema(pg_url: str) -> Iterator[str]:
    name = new_schema(pg_url)
    yield name
    drop_schema(pg_url, name)


@pytest.fixture(scope="session")
def reference(pg_url: str, fault_sim: SimulatorServer, fault_token: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    landing = tmp_path_factory.mktemp("reference-landing")
    schema = new_schema(pg_url)
    client = SmsPlatformClient(fault_sim.base_url, fault_token)
    try:
        manifest = download_window(client, FAULT_WINDOW, landing, page_size=PAGE_SIZE)
    finally:
        client.close()
    import_in_process(pg_url, schema, landing, FAULT_WINDOW)
    assert not reconciles(pg_url, schema)
    imported = fingerprint_of(pg_url, schema)
    publish(pg_url, schema, FAULT_WINDOW)
    mailings = mailings_of(pg_url, schema)
    with connect(pg_url, schema) as conn:
        refresh_segments(conn, mailings)
    segmented = fingerprint_of(pg_url, schema)
    assert segmented["responders"][0] > 0 and segmented["non_responders"][0] > 0
    yield Reference(schema, manifest.sha256, manifest.records, manifest.envelopes, manifest.bytes, imported, segmented,
                    mailings)
    drop_schema(pg_url, schema)


@pytest.fixture(scope="module")
def dedicated_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DedicatedPostgres]:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    pg = DedicatedPostgres(tmp_path_factory.mktemp("dedicated") / "pgdata")
    yield pg
    if not pg.accepting():
        pg.start()  # a test that failed half way may have left it stopped
    pg.close()
