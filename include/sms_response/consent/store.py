"""Consent records in the database: loaded all or nothing and idempotently, and read back as deciding records.

The deciding record is computed in SQL by ``consent_as_of(as_of, phones)`` (migration 0008) over the view
``consent_evidence``: the loaded records plus the opt-in / opt-out keyword events of ``sms_interactions``.
``consent_allows(policy, status)`` is the policy in SQL, so an audience query can filter set-based.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from sms_response.consent.policy import ConsentRecord, Decision, Policy, allows
from sms_response.consent.records import ParsedRecords
from sms_response.rejects import RejectedRows
from sms_response.sqlfiles import load_sql

log = logging.getLogger(__name__)

STAGE_COLUMNS = ("phone_e164", "status", "source", "source_ref", "recorded_at")


@dataclass(frozen=True)
class ConsentLoad:
    source: str
    records: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.records - self.inserted - self.updated

    def summary(self) -> str:
        return (f"consent records from {self.source}: {self.records} record(s), {self.inserted} inserted, "
                f"{self.updated} updated, {self.unchanged} unchanged")


def load_consent(conn: psycopg.Connection[Any], parsed: ParsedRecords, source: str, unit: str = "line") -> ConsentLoad:
    """Write every record of ``parsed`` in one transaction, or raise :class:`RejectedRows` and write nothing."""
    if parsed.rejects:
        raise RejectedRows(source, sorted(parsed.rejects, key=lambda r: r.line), unit)
    with conn.transaction():
        conn.execute(load_sql("consent_stage"))
        columns = sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
        with conn.cursor().copy(sql.SQL("COPY consent_stage ({}) FROM STDIN").format(columns)) as copy:
            for r in parsed.records:
                copy.write_row((r.phone_e164, r.status, r.source, r.source_ref, r.recorded_at))
        flags = conn.execute(load_sql("consent_upsert")).fetchall()
    inserted = sum(1 for (new,) in flags if new)
    result = ConsentLoad(source, len(parsed.records), inserted, len(flags) - inserted)
    log.info("%s", result.summary())
    return result


def deciding_records(conn: psycopg.Connection[Any], as_of: datetime,
                     phones: Sequence[str] | None = None) -> dict[str, ConsentRecord]:
    """Each phone's deciding record at ``as_of`` (phones without any evidence are absent)."""
    rows = conn.execute(load_sql("consent_as_of"),
                        {"as_of": as_of, "phones": None if phones is None else list(phones)}).fetchall()
    return {row[0]: ConsentRecord(*row) for row in rows}


def decide_phone(conn: psycopg.Connection[Any], phone_e164: str, policy: Policy, as_of: datetime) -> Decision:
    record = deciding_records(conn, as_of, [phone_e164]).get(phone_e164)
    return Decision(allows(policy, record), record)
