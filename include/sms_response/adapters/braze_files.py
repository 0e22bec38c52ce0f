"""Where Braze Currents puts its Avro files, and reading them.

Currents writes one file per event type and batch (published layout, Braze "Event delivery semantics")::

    <prefix>/dataexport.<cluster>.<S3|AzureBlob|GCS>.integration.<integration-id>/event_type=<event-type>/
        date=<YYYY-MM-DD-HH>/<schema-id>/<zone>/dataexport.<…>+<partition>+<offset>.avro

``date`` is the UTC hour the events were queued for processing: it is this adapter's publication time, so
a window reads the partitions of the hours it spans. Braze warns that the naming below ``date=`` may
change, so everything under a partition that ends in ``.avro`` is read, whatever its depth.

The filesystem is any fsspec filesystem (``s3fs`` here; Airflow's ``ObjectStoragePath`` wraps the same
objects), so nothing in this module knows about S3 itself.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import fastavro

from sms_response.errors import PlatformAuthError, PlatformError, WindowError
from sms_response.window import Window

HOUR = timedelta(hours=1)
EVENT_TYPE_PREFIX = "users.messages.sms."
INTEGRATION_MARKER = ".integration."


def partition_hours(window: Window) -> list[datetime]:
    """The ``date=`` hours a window spans; Currents partitions by whole UTC hours, so a window must too."""
    for name, value in (("start", window.start), ("end", window.end)):
        if value != value.replace(minute=0, second=0, microsecond=0):
            raise WindowError(
                f"window {window.id}: Braze Currents partitions files by the UTC hour, so the window {name} "
                f"{value.isoformat()} must be a whole hour"
            )
    hours: list[datetime] = []
    hour = window.start
    while hour < window.end:
        hours.append(hour)
        hour += HOUR
    return hours


def hour_label(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%d-%H")


class CurrentsFiles:
    """The Currents export under ``root`` (``bucket/prefix``) of one filesystem."""

    def __init__(self, fs: Any, root: str, integration_id: str | None = None) -> None:
        self.fs = fs
        self.root = root.strip("/")
        self.integration_id = integration_id
        self._exports: list[str] | None = None
        self._dates: dict[str, set[str]] = {}
        self.bytes_read = 0

    def exports(self) -> list[str]:
        """The ``dataexport.….integration.<id>`` folders (one per Currents integration writing here)."""
        if self._exports is None:
            try:
                entries = self.fs.ls(self.root, detail=False)
            except FileNotFoundError:
                raise PlatformError(
                    f"Braze Currents: {self.root!r} does not exist (check the extras bucket and prefix of the "
                    "sms_platform connection)"
                ) from None
            except PermissionError as exc:
                raise _auth_error(self.root) from exc
            found = []
            for entry in entries:
                name = str(entry).rstrip("/").rsplit("/", 1)[-1]
                if not name.startswith("dataexport.") or INTEGRATION_MARKER not in name:
                    continue
                if self.integration_id and not name.endswith(f"{INTEGRATION_MARKER}{self.integration_id}"):
                    continue
                found.append(f"{self.root}/{name}")
            self._exports = sorted(found)
        return self._exports

    def _partitions(self, folder: str) -> set[str]:
        """The ``date=…`` partitions of one event type's folder, listed once (one request, not one per hour)."""
        if folder not in self._dates:
            try:
                entries = self.fs.ls(folder, detail=False)
            except FileNotFoundError:
                entries = []
            except PermissionError as exc:
                raise _auth_error(folder) from exc
            self._dates[folder] = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries}
        return self._dates[folder]

    def files(self, event_type: str, hour: datetime) -> list[str]:
        """Every Avro file of ``users.messages.sms.<event_type>`` queued in ``hour``, in key order."""
        out: list[str] = []
        date = f"date={hour_label(hour)}"
        for export in self.exports():
            folder = f"{export}/event_type={EVENT_TYPE_PREFIX}{event_type}"
            if date not in self._partitions(folder):
                continue
            partition = f"{folder}/{date}"
            try:
                found = self.fs.find(partition)
            except FileNotFoundError:
                continue
            except PermissionError as exc:
                raise _auth_error(partition) from exc
            out.extend(str(p) for p in found if str(p).endswith(".avro"))
        return sorted(out)

    def records(self, path: str) -> Iterator[dict[str, Any]]:
        """The records of one Avro file (read with the schema the file carries)."""
        try:
            with self.fs.open(path, "rb") as f:
                data = f.read()
        except PermissionError as exc:
            raise _auth_error(path) from exc
        self.bytes_read += len(data)
        try:
            reader = fastavro.reader(io.BytesIO(data))
            for record in reader:
                if isinstance(record, dict):
                    yield record
        except (ValueError, EOFError, fastavro.read.SchemaResolutionError) as exc:
            raise PlatformError(f"Braze Currents file {path} is not a readable Avro file: {exc}") from exc


def _auth_error(where: str) -> PlatformAuthError:
    return PlatformAuthError(
        f"object storage refused access to {where!r}; check the login (access key id) and password (secret "
        "access key) of the sms_platform connection, or the role of the worker"
    )
