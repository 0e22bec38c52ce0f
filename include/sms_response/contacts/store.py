"""Contacts into the ``contacts`` table: one transaction, COPY into staging, one set-based upsert.

Sync semantics: a contact is keyed by its E.164 phone; a phone new to the table is inserted; a known one gets
the system fields the source has a column for (an empty value clears the field) and keeps those it has no
column for; its custom fields are merged (the source's fields replace theirs, an empty value removes it,
other fields stay). A row identical to what is stored is left alone (``updated_at`` too), so loading the same
source again changes nothing. Contacts absent from the source are kept: a load never deletes a contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from sms_response.contacts.parse import TEXT_FIELDS, Contact
from sms_response.sqlfiles import load_sql

STAGE_COLUMNS = ("phone_e164", "contact_id", "email", "given_name", "surname", "postal_code", "birthdate", "custom")


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int


def upsert_contacts(conn: psycopg.Connection[Any], contacts: Sequence[Contact], system_fields: Sequence[str],
                    custom_fields: Sequence[str]) -> UpsertCounts:
    """Upsert in the caller's transaction; ``system_fields`` / ``custom_fields``: those the source has."""
    conn.execute(load_sql("contacts_stage"))
    columns = sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
    copy_sql = sql.SQL("COPY contacts_stage ({}) FROM STDIN").format(columns)
    with conn.cursor().copy(copy_sql) as copy:
        for contact in contacts:
            copy.write_row(contact.copy_row())
    params: dict[str, object] = {f"has_{f}": f in system_fields for f in (*TEXT_FIELDS, "birthdate")}
    params["custom_fields"] = list(custom_fields)
    flags = conn.execute(load_sql("contacts_upsert"), params).fetchall()
    inserted = sum(1 for (new,) in flags if new)
    return UpsertCounts(inserted, len(flags) - inserted, len(contacts) - len(flags))
