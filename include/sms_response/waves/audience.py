"""The audience of a wave and the consent guard every send batch passes through.

Consent is absolute: the audience holds only phones the wave's consent policy allows (``consent_allows`` over
each phone's deciding record, ``consent_as_of``), never an opted-out one, and ``assert_sendable`` re-checks a
batch right before it goes to the platform (an opt-out may have been imported in between).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from sms_response.errors import SmsResponseError
from sms_response.sqlfiles import load_sql
from sms_response.waves.targeting import AudienceSpec

Conn = psycopg.Connection[TupleRow]
SEGMENTS = ("responders", "non_responders")
EXCLUSION_REASONS = ("already_planned", "opted_out", "no_consent", "hard_failure", "holdout", "frequency_cap")


class ConsentViolation(SmsResponseError):
    """A batch about to be sent contains numbers the consent policy does not allow now; nothing of it is sent."""

    def __init__(self, phones: Sequence[str], policy: str = "") -> None:
        from sms_response.phones import mask

        under = f" under {policy}" if policy else ""
        super().__init__(
            f"{len(phones)} number(s) without consent{under} in a send batch "
            f"({', '.join(mask(p) for p in phones[:5])}); the batch was not sent"
        )
        self.phones = list(phones)


@dataclass(frozen=True)
class ConsentBasis:
    """The deciding consent record a plan or send relied on (all None: no record, allowed by not_opted_out)."""

    status: str | None = None
    source: str | None = None
    ref: str | None = None
    recorded_at: datetime | None = None
    record_id: int | None = None
    event_id: str | None = None


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
    consent: ConsentBasis = ConsentBasis()


@dataclass(frozen=True)
class Audience:
    members: list[AudienceMember]
    candidates: int
    excluded: dict[str, int]  # reason -> phones, for every reason of EXCLUSION_REASONS


def build_audience(conn: Conn, audience: AudienceSpec, target_mailing: str) -> Audience:
    """The candidates (``wave_candidates``, filled by :mod:`sms_response.waves.sources`) the wave may text.

    Call inside the planning transaction, after ``wave_plan_lock``: the frequency cap then sees every wave
    planned before this one.
    """
    rows = conn.execute(load_sql("wave_audience"), {
        "target": target_mailing, "policy": audience.consent_policy,
        "exclude_hard": audience.exclude_hard_failures, "holdout_of": audience.exclude_holdout_of,
        "cap": int(audience.frequency_cap), "cap_days": int(audience.frequency_days),
    }).fetchall()
    members = [AudienceMember(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], ConsentBasis(*r[8:14]))
               for r in rows if r[14] is None]
    excluded = Counter(str(r[14]) for r in rows if r[14] is not None)
    assert_sendable(conn, [a.phone_e164 for a in members], audience.consent_policy)
    return Audience(members, len(rows), {k: excluded.get(k, 0) for k in EXCLUSION_REASONS})


def not_sendable(conn: Conn, phones: Sequence[str], policy: str) -> dict[str, str]:
    """{phone: 'opted_out' | 'no_consent'} for the phones that may not be texted now under ``policy``."""
    if not phones:
        return {}
    rows = conn.execute(load_sql("wave_not_sendable"), {"phones": list(phones), "policy": policy}).fetchall()
    return {str(p): str(why) for p, why in rows}


def assert_sendable(conn: Conn, phones: Sequence[str], policy: str) -> None:
    """Raise ``ConsentViolation`` if the policy does not allow every phone now."""
    bad = not_sendable(conn, phones, policy)
    if bad:
        raise ConsentViolation(sorted(bad), policy)
