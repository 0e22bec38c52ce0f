"""Braze Currents on loopback: the simulator's published events as Currents Avro files in an S3 API (moto).

``start(sim, workdir)`` runs moto's S3 server on 127.0.0.1 (an OS-picked port), renders everything the
simulator has published (``braze_render``) into a bucket with Currents' layout, and yields the
``sms_platform`` connection (as the JSON of ``AIRFLOW_CONN_SMS_PLATFORM``) that points the pipeline at it::

    with braze.start(sim, workdir) as conn:
        os.environ["AIRFLOW_CONN_SMS_PLATFORM"] = json.dumps(conn)

``export(sim)`` is the rendering itself (deterministic), with the truth of what was written
(``braze_truth``). Files are written once, at start: events the simulator publishes later (a campaign
wave) reach the bucket with ``BrazeBucket.sync()``.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro

from .braze_render import CLUSTER, INTEGRATION_ID, BrazeWorld, Renderer, Written
from .braze_schemas import SCHEMA_ID, parsed_schema
from .braze_truth import expected_rows, segments_truth, window_counts
from .clock import HOUR_US, from_us
from .server import SimulatorServer
from .state import PlatformState

BUCKET = "shopco-braze-currents"
PREFIX = "currents"
REGION = "us-east-1"
ZONE = "z1"


@dataclass
class BrazeExport:
    """What Currents wrote for the simulator's published events, and its truth."""

    written: list[Written]
    world: BrazeWorld
    state: PlatformState
    prefix: str = PREFIX

    def files(self) -> dict[str, tuple[str, list[dict[str, Any]]]]:
        """Object key → (event type, records), one file per event type, hour and batch, in Currents' layout."""
        groups: dict[tuple[str, int, int], list[dict[str, Any]]] = defaultdict(list)
        for w in self.written:
            groups[(w.event_type, w.hour_us, w.batch)].append(w.record)
        export = f"dataexport.{CLUSTER}.S3.integration.{INTEGRATION_ID}"
        out = {}
        for event_type, hour_us, batch in sorted(groups):
            date = from_us(hour_us).strftime("%Y-%m-%d-%H")
            offset = batch * 10_000_000 + hour_us // HOUR_US  # one file per type, hour and batch: unique
            key = (f"{self.prefix}/{export}/event_type=users.messages.sms.{event_type}/date={date}/{SCHEMA_ID}/"
                   f"{ZONE}/{export}+0+{offset}.avro")
            out[key] = (event_type, groups[(event_type, hour_us, batch)])
        return out

    def window_truth(self, start: datetime, end: datetime) -> dict[str, int]:
        return window_counts(self.written, start, end)

    def expected_rows(self, until: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
        return expected_rows(self.written, until)

    def segments(self) -> dict[str, tuple[list[str], list[str]]]:
        return segments_truth(self.state, self.world)


def export(state: PlatformState, prefix: str = PREFIX) -> BrazeExport:
    renderer = Renderer(state)
    written = renderer.render()
    return BrazeExport(written, renderer.world, state, prefix)


def avro_bytes(event_type: str, records: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, parsed_schema(event_type), records, codec="deflate")
    return buf.getvalue()


class BrazeBucket:
    """The loopback bucket: writes the rendering's files (only those not written yet)."""

    def __init__(self, state: PlatformState, client: Any, bucket: str = BUCKET, prefix: str = PREFIX) -> None:
        self.state, self.client, self.bucket, self.prefix = state, client, bucket, prefix
        self.written: dict[str, bytes] = {}

    def sync(self) -> BrazeExport:
        """Render the state again and put every new or changed file (a rerun of a closed hour sees the same)."""
        rendered = export(self.state, self.prefix)
        for key, (event_type, records) in rendered.files().items():
            body = avro_bytes(event_type, records)
            if self.written.get(key) != body:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
                self.written[key] = body
        return rendered


@dataclass
class BrazeRun:
    """The loopback bucket and the connection that points the pipeline at it."""

    bucket: BrazeBucket
    connection: dict[str, Any]


@contextmanager
def start(sim: SimulatorServer, workdir: Path) -> Iterator[dict[str, Any]]:
    """moto's S3 server on loopback holding the rendering of ``sim``'s events; yields the connection."""
    with running(sim, workdir) as run:
        yield run.connection


@contextmanager
def running(sim: SimulatorServer, workdir: Path) -> Iterator[BrazeRun]:
    """``start``, yielding the bucket too (``run.bucket.sync()`` writes what ``sim`` published since)."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        key_id, secret = f"AKIA{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30)
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key_id,
                              aws_secret_access_key=secret, region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        bucket = BrazeBucket(sim.state, client)
        rendered = bucket.sync()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "braze-currents-files.json").write_text(json.dumps(
            {"bucket": BUCKET, "endpoint_url": endpoint, "files": sorted(bucket.written),
             "events": len(rendered.written)}, indent=1), encoding="utf-8")
        yield BrazeRun(bucket, {
            "conn_type": "aws", "host": host, "port": port, "schema": "http", "login": key_id, "password": secret,
            "extra": {"platform": "braze", "bucket": BUCKET, "prefix": PREFIX, "endpoint_url": endpoint,
                      "region": REGION, "integration_id": INTEGRATION_ID},
        })
    finally:
        server.stop()
