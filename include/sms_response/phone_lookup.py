"""The persistent raw phone → E.164 lookup: ``phonenumbers`` sees each distinct raw value once ever.

Parsing and validating a number costs about 30 µs; a campaign's recipients recur hour after hour, so a
window's numbers are looked up in ``phone_lookup`` (decided by an earlier window) and only the new ones are
parsed. What a window decides is staged in a temporary table and written to ``phone_lookup`` by
:func:`save_decided` at the end of the window's transaction (a value two parts of a cold window both decided is
saved once).
A value decided by another ``phonenumbers`` version counts as unknown and is decided again.
"""

from __future__ import annotations

from collections.abc import Sequence

import phonenumbers
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response.phones import PhoneNormaliser, PhoneResult
from sms_response.sqlfiles import load_sql

Conn = psycopg.Connection[TupleRow]
PARSER = phonenumbers.__version__
STAGE = "stage_phone_lookup"


def create_stage(conn: Conn) -> None:
    """The window's own decisions (inside the caller's transaction; dropped at commit)."""
    conn.execute(load_sql("phone_lookup_stage"))


Decision = tuple[str, str | None, str | None]


def resolve(
    read: Conn, region: str, raws: Sequence[str], phones: PhoneNormaliser,
) -> tuple[list[str | None], list[Decision]]:
    """E.164 (None: not a number) of each raw value, in order, and the decisions made now (for :func:`stage`).

    Looked up in ``phones``' cache (this window's earlier parts), then in ``phone_lookup`` as committed (``read``
    may be a connection of its own, so a worker thread does not wait for the window's statements), then parsed.
    Every result is put in ``phones``' cache for the Python normaliser."""
    known: dict[str, str | None] = {}
    ask: list[str] = []
    for raw in raws:
        hit = phones.cached(raw)
        if hit is not None:
            known[raw] = hit.e164
        elif "\x00" in raw:  # PostgreSQL text cannot hold NUL: decided here, never stored (it is no number anyway)
            known[raw] = phones.normalise(raw).e164
        else:
            ask.append(raw)
    if ask:
        for raw, e164, reason in read.execute(load_sql("phone_lookup_get"),
                                              {"region": region, "parser": PARSER, "raws": ask}).fetchall():
            result = PhoneResult(None if e164 is None else str(e164), None if reason is None else str(reason))
            known[str(raw)] = result.e164
            phones.remember(str(raw), result)
    decided: list[Decision] = []
    for raw in ask:
        if raw not in known:
            result = phones.normalise(raw)
            known[raw] = result.e164
            decided.append((raw, result.e164, None if result.e164 else (result.reason or "phone invalid")))
    return [known[raw] for raw in raws], decided


def stage(conn: Conn, decided: Sequence[Decision]) -> None:
    """Stage decisions made for the window (saved by :func:`save_decided` under the load lock)."""
    if decided:
        stmt = sql.SQL("COPY {} (raw, e164, reason) FROM STDIN").format(sql.Identifier(STAGE))
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            for row in decided:
                copy.write_row(row)


def save_decided(conn: Conn, region: str) -> int:
    """Write the window's decisions to ``phone_lookup`` (call under the load lock); returns how many."""
    cur = conn.execute(load_sql("phone_lookup_save"), {"region": region, "parser": PARSER})
    return cur.rowcount
