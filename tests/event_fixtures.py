"""Data the way production data arrives, for tests that need published windows: envelopes landed per
window with ``LandingWriter``, imported with ``import_window`` and published through ``load_log``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from sms_response.landing import LandingWriter
from sms_response.load import LoadResult, import_window
from sms_response.mapping import load_mapping
from sms_response.window import Window

Conn = psycopg.Connection[TupleRow]
MAPPING = load_mapping()


def attrs(**kv: Any) -> list[dict[str, Any]]:
    """Event attributes as the platform sends them (None values left out, as the platform omits them)."""
    return [{"name": k, "value": v, "type": "string"} for k, v in kv.items() if v is not None]


def sent_envelope(eid: str, phone: str, ts: datetime, mailing: str, status: str = "delivered", code: int = 0,
                  **extra: Any) -> dict[str, Any]:
    """A ``sentSMS`` envelope; ``extra`` are further attributes (campaignCode, messageBody, messageParts, …)."""
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
            "events": [{"code": "sentSMS", "timestamp": ts.isoformat(), "attributes": attrs(
                eventId=eid, mailingName=mailing, deliveryStatus=status, statusCode=code, **extra)}]}


def interaction_envelope(eid: str, phone: str, ts: datetime, itype: str, mailing: str,
                         **extra: Any) -> dict[str, Any]:
    """An ``interactedSMS`` envelope; ``extra`` are further attributes (url, linkToken, messageBody, …)."""
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
            "events": [{"code": "interactedSMS", "timestamp": ts.isoformat(), "attributes": attrs(
                eventId=eid, mailingName=mailing, interactionType=itype, **extra)}]}


def land(root: Path, window: Window, events: Iterable[dict[str, Any]]) -> None:
    """Write the window's landing files (a fresh version: landing a window again replaces it)."""
    w = LandingWriter(root, window.id)
    for e in events:
        w.write(e)
    w.commit({"window_start": window.start.isoformat(), "window_end": window.end.isoformat(), "filters": {},
              "pages": 1, "source": "test", "downloaded_at": "2026-11-25T12:00:00+00:00"})


def import_landed(db: Conn, schema: str, root: Path, window: Window) -> LoadResult:
    r = import_window(db, schema, root, window, MAPPING, default_region="US", run_id="test")
    assert r.reconciles and r.rejected == 0, r
    db.commit()
    return r


def land_and_import_result(db: Conn, schema: str, root: Path, window: Window,
                           events: Iterable[dict[str, Any]]) -> LoadResult:
    land(root, window, events)
    return import_landed(db, schema, root, window)


def land_and_import(db: Conn, schema: str, root: Path, window: Window, events: list[dict[str, Any]]) -> str:
    """Land and import a window; returns its load_id (the window is imported, not yet published)."""
    return land_and_import_result(db, schema, root, window, events).load_id


def publish(db: Conn, load_id: str) -> None:
    db.execute("UPDATE load_log SET status = 'published' WHERE load_id = %s", (load_id,))
    db.commit()
