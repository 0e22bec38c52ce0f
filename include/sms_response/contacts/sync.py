"""Load a contact source, all or nothing: map its columns, parse every row, then upsert in one transaction.

Any rejected row (or column) and nothing is written: :class:`~sms_response.rejects.RejectedRows` lists each
with its line and reason. There is deliberately no partial mode: a half-loaded audience is worse than none,
and a fixed file simply loads again (the upsert is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from sms_response.contacts.fields import map_columns
from sms_response.contacts.parse import parse_contacts
from sms_response.contacts.sources import SourceRows
from sms_response.contacts.store import upsert_contacts
from sms_response.phones import PhoneNormaliser
from sms_response.rejects import RejectedRows
from sms_response.sqlfiles import load_sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContactsLoad:
    source: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    custom_fields: tuple[str, ...]
    phones: tuple[str, ...] = ()  # the source's phones (E.164), in source order

    def summary(self) -> str:
        custom = ", ".join(self.custom_fields) or "none"
        return (f"contacts from {self.source}: {self.rows} row(s), {self.inserted} inserted, {self.updated} updated, "
                f"{self.unchanged} unchanged; custom fields: {custom}")


def load_contacts(conn: psycopg.Connection[Any], source: SourceRows, *, known_custom: Sequence[str] | None = None,
                  normaliser: PhoneNormaliser | None = None, today: date | None = None) -> ContactsLoad:
    """Upsert every contact of ``source``, or raise :class:`RejectedRows` and write nothing.

    ``known_custom``: the platform's custom field names; a column matching none of them is refused. Without
    it, a custom column takes the spelling of a field the stored contacts already have, else its own name
    with spaces as underscores.
    """
    with conn.transaction():  # a raise below rolls back: nothing is written
        existing = [k for (k,) in conn.execute(load_sql("contacts_custom_keys")).fetchall()]
        fields, rejects = map_columns(source.columns, known_custom, source.header_line, existing)
        if rejects:  # without a usable header the rows cannot be read
            raise RejectedRows(source.label, rejects, source.unit)
        parsed = parse_contacts(source.rows, fields, normaliser or PhoneNormaliser(), today=today)
        rejects = [*source.rejects, *parsed.rejects]
        if rejects:
            raise RejectedRows(source.label, sorted(rejects, key=lambda r: r.line), source.unit)
        counts = upsert_contacts(conn, parsed.contacts, list(fields.system.values()), fields.custom_fields)
    result = ContactsLoad(source.label, len(parsed.contacts), counts.inserted, counts.updated, counts.unchanged,
                          tuple(fields.custom_fields), tuple(c.phone_e164 for c in parsed.contacts))
    log.info("%s", result.summary())
    return result
