"""Fresh migrated schemas with a connection each, dropped afterwards (for tests that compare imports side by side)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import TupleRow

from sms_response import migrate
from sms_response.db import connect, drop_schema


@contextmanager
def migrated_schemas(pg_url: str, prefix: str, kinds: tuple[str, ...]) -> Iterator[
        list[tuple[psycopg.Connection[TupleRow], str]]]:
    """One migrated schema per kind (named ``<prefix>_<kind>_<random>``), with a connection to it."""
    names = [f"{prefix}_{kind}_{uuid.uuid4().hex[:8]}" for kind in kinds]
    conns: list[psycopg.Connection[TupleRow]] = []
    try:
        for name in names:
            migrate.upgrade(pg_url, name)
            conns.append(connect(pg_url, name))
        yield list(zip(conns, names, strict=True))
    finally:
        for c in conns:
            c.close()
        for name in names:
            drop_schema(pg_url, name)
