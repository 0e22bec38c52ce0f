"""Helpers shared by the wave tests: a source mailing's segment and contacts, written as the pipeline would."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

SENT_AT = datetime(2026, 11, 20, 9, tzinfo=UTC)


def seed_segment(conn: psycopg.Connection[Any], mailing: str, members: Mapping[str, str]) -> int:
    """A complete segment run of ``mailing`` with {phone: segment}, made current; returns its id."""
    with conn.transaction():
        conn.execute("INSERT INTO mailings (mailing_name, campaign_code) VALUES (%s, 'SEED') ON CONFLICT DO NOTHING",
                     (mailing,))
        row = conn.execute("INSERT INTO segment_runs (mailing_name, status, response_window) "
                           "VALUES (%s, 'complete', '72 hours') RETURNING segment_run_id", (mailing,)).fetchone()
        assert row is not None
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO segment_members (segment_run_id, segment, mailing_name, phone_e164, sent_at) "
                "VALUES (%s, %s, %s, %s, %s)", [(row[0], seg, mailing, p, SENT_AT) for p, seg in members.items()],
            )
        conn.execute("INSERT INTO segment_current VALUES (%s, %s) ON CONFLICT (mailing_name) "
                     "DO UPDATE SET segment_run_id = EXCLUDED.segment_run_id", (mailing, row[0]))
    return int(row[0])


OPTED_IN_AT = datetime(2026, 1, 1, tzinfo=UTC)


def seed_contacts(conn: psycopg.Connection[Any], phones: Sequence[str], custom: Mapping[str, Any] | None = None,
                  *, opted_in: bool = True) -> None:
    """Contact attributes for the phones: names derived from the position, optional custom attributes; with
    ``opted_in`` each phone also gets an opt-in record (a consent list, on 2026-01-01), so the default consent
    policy (opt_in_required) lets the waves of these tests text them."""
    if opted_in:
        seed_opt_ins(conn, phones)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO contacts (phone_e164, contact_id, email, given_name, surname, postal_code, custom) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (phone_e164) DO NOTHING",
            [(p, f"c{i}", f"p{i}@shop.example", f"Name{i}", f"Surname{i}", f"{10000 + i}", Jsonb(dict(custom or {})))
             for i, p in enumerate(phones)],
        )


def seed_opt_ins(conn: psycopg.Connection[Any], phones: Sequence[str], at: datetime = OPTED_IN_AT) -> None:
    """An opt-in consent record per phone, as an imported consent list would give."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO consent_records (phone_e164, status, source, source_ref, recorded_at) "
            "VALUES (%s, 'opted_in', 'consent_list', %s, %s) ON CONFLICT DO NOTHING",
            [(p, f"seed:{i}", at) for i, p in enumerate(phones)],
        )


def known_phones(sim: Any) -> list[str]:
    """The E.164 numbers the simulator's platform knows (only those can be texted)."""
    return sorted(c.e164 for c in sim.state.contacts() if c.e164)


def sent_per_phone(send_counts: Mapping[str, Any], mailing: str) -> dict[str, int]:
    """{phone: messages} of one mailing, from the simulator's ``/sim/sends`` counts."""
    return {k.split("|", 1)[1]: n for k, n in send_counts["by_mailing_phone"].items() if k.startswith(mailing + "|")}
