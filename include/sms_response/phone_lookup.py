"""The persistent raw phone → E.164 lookup: ``phonenumbers`` sees each distinct raw value once ever.

Parsing and validating a number costs about 30 µs; a campaign's recipients recur hour after hour, so a
window's numbers are looked up in ``phone_lookup`` (decided by an earlier window) and only the new ones are
parsed. What a window decides is staged in a temporary table (visible to the window's later parts at once)
and written to ``phone_lookup`` by :func:`save_decided` under the load lock: inserting while windows stage in
parallel would make one window wait for another's commit on the same new number, or deadlock two of them.
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


def resolve(conn: Conn, region: str, raws: Sequence[str], phones: PhoneNormaliser) -> list[str | None]:
    """E.164 (None: not a number) of each raw value, in order. Values no window decided are parsed (and staged
    for :func:`save_decided`); every result is also put in ``phones``' cache for the Python normaliser."""
    if not raws:
        return []
    known: dict[str, str | None] = {}
    for raw in raws:
        if "\x00" in raw:  # PostgreSQL text cannot hold NUL: decided here, never stored (it is no number anyway)
            known[raw] = phones.normalise(raw).e164
    storable = [raw for raw in raws if raw not in known]
    for raw, e164, reason in conn.execute(load_sql("phone_lookup_get"),
                                          {"region": region, "parser": PARSER, "raws": storable}).fetchall():
        known[str(raw)] = None if e164 is None else str(e164)
        phones.remember(str(raw), PhoneResult(known[str(raw)], None if reason is None else str(reason)))
    new = [raw for raw in raws if raw not in known]
    if new:
        stmt = sql.SQL("COPY {} (raw, e164, reason) FROM STDIN").format(sql.Identifier(STAGE))
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            for raw in new:
                result = phones.normalise(raw)
                known[raw] = result.e164
                copy.write_row((raw, result.e164, None if result.e164 else (result.reason or "phone invalid")))
    return [known[raw] for raw in raws]


def save_decided(conn: Conn, region: str) -> int:
    """Write the window's decisions to ``phone_lookup`` (call under the load lock); returns how many."""
    cur = conn.execute(load_sql("phone_lookup_save"), {"region": region, "parser": PARSER})
    return cur.rowcount
