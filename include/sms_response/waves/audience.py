"""The audience of a wave and the consent guard every send batch passes through.

Consent is absolute: the audience excludes opted-out phones, and ``assert_sendable`` re-checks a
batch right before it goes to the platform (an opt-out may have been imported in between).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from sms_response.errors import SmsResponseError
from sms_response.sqlfiles import load_sql

Conn = psycopg.Connection[TupleRow]
SEGMENTS = ("responders", "non_responders")


class ConsentViolation(SmsResponseError):
    """A batch about to be sent contains opted-out numbers; nothing of it may be sent."""

    def __init__(self, phones: Sequence[str]) -> None:
        from sms_response.phones import mask

        super().__init__(
            f"{len(phones)} opted-out number(s) in a send batch ({', '.join(mask(p) for p in phones[:5])}); "
            "the batch was not sent"
        )
        self.phones = list(phones)


@dataclass(frozen=True)
class AudienceMember:
    phone_e164: str
    contact_id: str | None
    email: str | None
    given_name: str | None
    surname: str | None
    postal_code: str | None
    birthdate: date | None
    custom: dict[str, Any]


def build_audience(conn: Conn, source_mailing: str, segment: str, target_mailing: str) -> list[AudienceMember]:
    """The segment of ``source_mailing`` minus opted-out phones and minus those already in ``target_mailing``."""
    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {SEGMENTS}, not {segment!r}")
    rows = conn.execute(
        load_sql("wave_audience"), {"source": source_mailing, "segment": segment, "target": target_mailing}
    ).fetchall()
    audience = [AudienceMember(*r) for r in rows]
    assert_sendable(conn, [a.phone_e164 for a in audience])
    return audience


def opted_out_among(conn: Conn, phones: Sequence[str]) -> list[str]:
    if not phones:
        return []
    rows = conn.execute(load_sql("opted_out_among"), {"phones": list(phones)}).fetchall()
    return sorted(str(r[0]) for r in rows)


def assert_sendable(conn: Conn, phones: Sequence[str]) -> None:
    """Raise ``ConsentViolation`` if any phone is opted out now."""
    bad = opted_out_among(conn, phones)
    if bad:
        raise ConsentViolation(bad)
