"""Consent records from a consent list, the platform's export and keyword events: the deciding record per policy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sms_response.cli import main
from sms_response.consent.records import parse_consent_list, parse_opt_status_export
from sms_response.consent.store import decide_phone, deciding_records, load_consent
from sms_response.errors import PlatformAuthError
from sms_response.load import ensure_partitions, month_bounds
from sms_response.phones import PhoneNormaliser
from sms_response.platform import SmsPlatformClient
from sms_response.rejects import RejectedRows

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
A, B, C, D = "+12015550100", "+12015550101", "+12015550102", "+12015550103"
NORM = PhoneNormaliser()
EXPORT = [
    {"phone": A, "contact_id": "cA", "status": "opted_out", "opted_in_at": "2026-06-01T00:00:00+00:00",
     "opted_out_at": None},
    {"phone": B, "contact_id": "cB", "status": "never_opted_in", "opted_in_at": None, "opted_out_at": None},
    {"phone": D, "contact_id": "cD", "status": "opted_in", "opted_in_at": "2026-11-01T00:00:00+00:00",
     "opted_out_at": None},
]
CONSENT_LIST = ("phone,status,timestamp\n"
                f"{A},opted_in,2026-11-21T08:00:00-05:00\n"     # A opts in again, by form
                f"{D},opted_out,2026-11-01T00:00:00Z\n")         # D: same instant as the export's opt-in


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def seed(db: Conn, tmp_path: Path) -> None:
    path = tmp_path / "consent.csv"
    path.write_text(CONSENT_LIST, encoding="utf-8")
    load_consent(db, parse_consent_list(path, NORM), "consent list")
    load_consent(db, parse_opt_status_export(EXPORT, NORM), "export", unit="subscriber")
    ensure_partitions(db, "sms_interactions", [month_bounds(at("2026-11-20T00:00:00+00:00"))[0]])
    db.execute("INSERT INTO sms_interactions (event_id, mailing_name, phone_e164, interacted_at, interaction_type, "
               "keyword, load_id) VALUES ('e-stop', 'M1', %s, '2026-11-20T10:00:00Z', 'opt_out', 'STOP', 'w'), "
               "('e-start', 'M1', %s, '2026-11-19T10:00:00Z', 'opt_in', 'START', 'w')", (A, C))
    db.commit()


def decisions(db: Conn, when: str) -> dict[str, tuple[bool, bool, str | None, str | None]]:
    out = {}
    for phone in (A, B, C, D):
        strict, lax = (decide_phone(db, phone, p, at(when)) for p in ("opt_in_required", "not_opted_out"))
        out[phone] = (strict.allowed, lax.allowed, strict.record and strict.record.source,
                      strict.record and strict.record.status)
    db.commit()
    return out


def test_the_deciding_record_per_policy_is_the_hand_computed_one(db: Conn, tmp_path: Path) -> None:
    seed(db, tmp_path)
    assert decisions(db, "2026-11-20T09:00:00+00:00") == {
        A: (True, True, "platform_export", "opted_in"),      # the export's June opt-in
        B: (False, True, None, None),                        # never opted in: only not_opted_out lets it go
        C: (True, True, "keyword", "opted_in"),              # START on the 19th
        D: (False, False, "consent_list", "opted_out"),      # opt-out and opt-in at one instant: the opt-out
    }
    assert decisions(db, "2026-11-20T12:00:00+00:00")[A] == (False, False, "keyword", "opted_out")  # STOP at 10:00
    assert decisions(db, "2026-11-21T13:00:00+00:00")[A] == (True, True, "consent_list", "opted_in")  # 08:00 -05
    assert decisions(db, "2026-05-01T00:00:00+00:00")[A] == (False, True, None, None)  # before any record


def test_the_set_based_answer_names_the_stored_record_or_event(db: Conn, tmp_path: Path) -> None:
    seed(db, tmp_path)
    records = deciding_records(db, at("2026-11-20T12:00:00+00:00"))
    assert set(records) == {A, C, D}  # B has no evidence
    assert (records[A].event_id, records[A].record_id, records[A].source_ref) == ("e-stop", None, "STOP (M1)")
    assert records[D].record_id is not None and records[D].event_id is None
    allowed = db.execute("SELECT p FROM unnest(%s::text[]) p LEFT JOIN consent_as_of(%s) c ON c.phone_e164 = p "
                         "WHERE consent_allows('opt_in_required', c.status) ORDER BY p",
                         ([A, B, C, D], at("2026-11-20T09:00:00+00:00"))).fetchall()
    assert [p for (p,) in allowed] == [A, C]


def test_reloading_changes_nothing_and_a_bad_list_loads_nothing(db: Conn, tmp_path: Path) -> None:
    seed(db, tmp_path)
    before = db.execute("SELECT * FROM consent_records ORDER BY record_id").fetchall()
    again = load_consent(db, parse_opt_status_export(EXPORT, NORM), "export")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"phone,status,timestamp\n{B},opted_in,2026-11-02T00:00:00Z\nxx,opted_in,2026-11-02T00:00:00Z\n",
                   encoding="utf-8")
    with pytest.raises(RejectedRows, match="line 3"):
        load_consent(db, parse_consent_list(bad, NORM), "bad list")
    assert db.execute("SELECT * FROM consent_records ORDER BY record_id").fetchall() == before


def test_the_simulators_export_loads_opt_ins_never_opted_in_and_stop_replies(simulator: Any, sim_token: str,
                                                                           db: Conn) -> None:
    client = SmsPlatformClient(simulator.base_url, sim_token)
    subscribers = list(client.opt_status(page_size=37))
    assert len(subscribers) == len({s["contact_id"] for s in subscribers}) == 300  # every page, no repeats
    by_status = {s: sum(1 for x in subscribers if x["status"] == s) for s in ("opted_in", "opted_out",
                                                                              "never_opted_in")}
    assert by_status["opted_in"] > 200 and by_status["never_opted_in"] > 5 and by_status["opted_out"] > 0
    result = load_consent(db, parse_opt_status_export(subscribers, NORM), "export")
    dated = sum(bool(s["opted_in_at"]) + bool(s["opted_out_at"]) for s in subscribers)
    assert result.inserted == dated
    out_phones = [s["phone"] for s in subscribers if s["status"] == "opted_out"]
    latest = deciding_records(db, datetime(2100, 1, 1, tzinfo=UTC), out_phones)
    assert {r.status for r in latest.values()} == {"opted_out"}


def test_the_cli_loads_the_platform_export_without_printing_the_token(
        monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str, db: Conn, simulator: Any, sim_token: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)
    monkeypatch.setenv("SMS_RT_SCHEMA", schema)
    monkeypatch.delenv("SMS_RT_PLATFORM_TOKEN", raising=False)
    monkeypatch.setenv("SMS_RT_PLATFORM_URL", simulator.base_url)
    assert main(["consent", "load", "--platform"]) == 2
    assert "SMS_RT_PLATFORM_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SMS_RT_PLATFORM_TOKEN", sim_token)
    assert main(["consent", "load", "--platform"]) == 0
    out = capsys.readouterr()
    assert "inserted" in out.out and sim_token not in out.out + out.err


def test_the_export_needs_the_bearer_token(simulator: Any) -> None:
    client = SmsPlatformClient(simulator.base_url, "wrong-token")
    with pytest.raises(PlatformAuthError):
        next(client.opt_status())
