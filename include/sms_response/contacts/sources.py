"""Where contacts come from: a CSV file, or a table, view or saved query of the response database.

A database source is read in a READ ONLY transaction, so a saved query that tries to write is refused by
PostgreSQL itself and changes nothing. Table and view names go through ``psycopg.sql.Identifier``; a saved
query must be one SELECT (``WITH … SELECT`` included) and is checked before it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import sqlparse
from psycopg import pq, sql

from sms_response.csvfile import read_csv
from sms_response.errors import SmsResponseError
from sms_response.rejects import Reject


class SourceError(SmsResponseError):
    """A contact source cannot be read: a missing view, a query that is not one SELECT or that writes."""


@dataclass(frozen=True)
class SourceRows:
    """A source's columns and rows; ``unit`` and ``header_line`` say how to number them in a reject."""

    label: str
    columns: tuple[str, ...]
    rows: list[tuple[int, Mapping[str, object]]]
    unit: str = "line"
    header_line: int = 1
    rejects: tuple[Reject, ...] = ()


def csv_source(path: Path) -> SourceRows:
    header, rows = read_csv(path)
    extra = tuple(Reject(r.line, "more fields than the header has columns") for r in rows if r.extra)
    return SourceRows(f"file {path}", header, [(r.line, r.values) for r in rows if not r.extra], rejects=extra)


def validate_query(text: str, label: str) -> str:
    """The one SELECT statement of a saved query, else :class:`SourceError` naming what is wrong."""
    statements = [s for s in sqlparse.parse(text)
                  if s.token_first(skip_cm=True, skip_ws=True) is not None]  # type: ignore[no-untyped-call]
    if len(statements) != 1:
        raise SourceError(f"{label}: a saved query must be exactly one statement, found {len(statements)}")
    kind = statements[0].get_type()  # type: ignore[no-untyped-call]
    if kind != "SELECT":
        raise SourceError(f"{label}: a saved query must be a SELECT (or WITH … SELECT), found {kind}")
    return str(statements[0]).strip()


def query_source(conn: psycopg.Connection[Any], path: Path,
                 params: Mapping[str, object] | None = None) -> SourceRows:
    """The rows of a saved query; ``params`` fill its ``%(name)s`` placeholders (then write a literal % as %%)."""
    label = f"query file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {label}: {exc}") from exc
    return _read_only(conn, sql.SQL(validate_query(text, label)), label, params or None)


def relation_source(conn: psycopg.Connection[Any], name: str, kind: Literal["table", "view"]) -> SourceRows:
    """All rows of a table or view; ``name`` may be ``schema.name``, each part an identifier as written."""
    parts = [p.strip('"') for p in name.split(".")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise SourceError(f"{kind} name {name!r} must be NAME or SCHEMA.NAME")
    ident = sql.Identifier(*parts)
    _require_idle(conn, f"{kind} {name}")
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (ident.as_string(conn),)).fetchone()
    conn.rollback()
    if not found or not found[0]:
        path = conn.execute("SHOW search_path").fetchone()
        conn.rollback()
        raise SourceError(f"no {kind} named {name!r} (search path: {path[0] if path else '?'}); nothing was loaded")
    return _read_only(conn, sql.SQL("SELECT * FROM {}").format(ident), f"{kind} {name}")


def _require_idle(conn: psycopg.Connection[Any], label: str) -> None:
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise SourceError(f"{label}: the connection has a transaction open; a source is read in a read-only "
                          "transaction of its own")


def _read_only(conn: psycopg.Connection[Any], query: sql.SQL | sql.Composed, label: str,
               params: Mapping[str, object] | None = None) -> SourceRows:
    _require_idle(conn, label)
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            cur = conn.execute(query, params)
            if cur.description is None:
                raise SourceError(f"{label} returns no rows")
            columns = tuple(d.name for d in cur.description)
            records: Sequence[tuple[Any, ...]] = cur.fetchall()
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise SourceError(f"{label} tries to write ({exc.diag.message_primary}); a contact source may only read. "
                          "PostgreSQL refused it in a read-only transaction: nothing was changed or loaded") from exc
    except (KeyError, psycopg.ProgrammingError) as exc:
        if isinstance(exc, psycopg.Error) and exc.sqlstate:
            raise SourceError(f"{label} failed: {exc.diag.message_primary or exc}; nothing was loaded") from exc
        raise SourceError(f"{label}: its parameters do not match the query's placeholders ({exc}); "
                          "nothing was loaded") from exc
    except psycopg.Error as exc:
        raise SourceError(f"{label} failed: {exc.diag.message_primary or exc}; nothing was loaded") from exc
    rows: list[tuple[int, Mapping[str, object]]] = [
        (n, dict(zip(columns, rec, strict=True))) for n, rec in enumerate(records, start=1)]
    return SourceRows(label, columns, rows, unit="row", header_line=0)
