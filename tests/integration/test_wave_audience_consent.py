"""Consent is absolute: for random consent histories and segments, no opted-out number reaches a wave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import TupleRow

from sms_response.landing import LandingWriter
from sms_response.load import import_window
from sms_response.mapping import load_mapping
from sms_response.waves.audience import ConsentViolation, assert_sendable, build_audience
from sms_response.window import Window

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
W = Window(T0, T0 + timedelta(hours=1))
SOURCE, TARGET = "SPRING26_Wave1_20261120090000", "SPRING26_Wave2_20261121090000"
PHONES = [f"+1201555{n:04d}" for n in range(100, 112)]
# How a phone's consent can change: explicit opt events, or replies the importer reclassifies.
OPT_EVENTS = [("opt_out", {"keyword": "STOP"}), ("opt_in", {"keyword": "START"}),
              ("reply", {"messageBody": "STOP"}), ("reply", {"messageBody": "unstop"}),
              ("reply", {"messageBody": "Cancel"}), ("reply", {"messageBody": "yes please"})]

history = st.lists(
    st.tuples(st.sampled_from(PHONES), st.sampled_from(range(len(OPT_EVENTS))), st.integers(0, 59)),
    max_size=30,
)
membership = st.dictionaries(st.sampled_from(PHONES), st.sampled_from(["responders", "non_responders"]))


def envelope(i: int, phone: str, kind: int, minute: int) -> dict[str, Any]:
    itype, extra = OPT_EVENTS[kind]
    attrs = {"eventId": f"e{i:03d}", "mailingName": SOURCE, "interactionType": itype, **extra}
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
            "events": [{"code": "interactedSMS", "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
                        "attributes": [{"name": k, "value": v, "type": "string"} for k, v in attrs.items()]}]}


def expected_opted_out(events: list[tuple[str, int, int]]) -> set[str]:
    """The model: the latest opt event (time, then event id) of each phone decides."""
    latest: dict[str, tuple[int, str, str]] = {}
    for i, (phone, kind, minute) in enumerate(events):
        itype, extra = OPT_EVENTS[kind]
        body = str(extra.get("messageBody", "")).upper()
        effective = itype if itype != "reply" else {"STOP": "opt_out", "CANCEL": "opt_out", "UNSTOP": "opt_in"}.get(body)
        if effective is None:
            continue
        key = (minute, f"e{i:03d}", effective)
        if phone not in latest or key[:2] > latest[phone][:2]:
            latest[phone] = key
    return {p for p, (_, _, eff) in latest.items() if eff == "opt_out"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=history, members=membership)
def test_no_opted_out_number_is_ever_in_a_wave_audience(
    db: psycopg.Connection[TupleRow], tmp_path: Path, events: list[tuple[str, int, int]], members: dict[str, str]
) -> None:
    db.execute("TRUNCATE sms_interactions, sms_sent, event_index, event_rejects, sms_consent, load_log, "
               "segment_current, segment_members, segment_runs, mailings CASCADE")
    root = tmp_path / f"land{abs(hash((tuple(events), tuple(sorted(members.items())))))}"
    writer = LandingWriter(root, W.id)
    for i, (phone, kind, minute) in enumerate(events):
        writer.write(envelope(i, phone, kind, minute))
    writer.commit({"window_start": W.start.isoformat(), "window_end": W.end.isoformat(), "filters": {},
                   "pages": 1, "source": "hypothesis", "downloaded_at": "x"})
    import_window(db, db.execute("SELECT current_schema()").fetchone()[0], root, W, load_mapping())  # type: ignore[index]
    run = db.execute("INSERT INTO segment_runs (mailing_name, status, response_window) "
                     "VALUES (%s, 'complete', '72 hours') RETURNING segment_run_id", (SOURCE,)).fetchone()
    assert run is not None
    for phone, segment in members.items():
        db.execute("INSERT INTO segment_members (segment_run_id, segment, mailing_name, phone_e164, sent_at) "
                   "VALUES (%s, %s, %s, %s, %s)", (run[0], segment, SOURCE, phone, T0))
    db.execute("INSERT INTO segment_current VALUES (%s, %s)", (SOURCE, run[0]))
    db.execute("INSERT INTO mailings (mailing_name) VALUES (%s) ON CONFLICT DO NOTHING", (TARGET,))
    db.commit()

    opted_out = expected_opted_out(events)
    for segment in ("responders", "non_responders"):
        audience = {a.phone_e164 for a in build_audience(db, SOURCE, segment, TARGET)}
        assert not audience & opted_out
        assert audience == {p for p, s in members.items() if s == segment} - opted_out
    if opted_out:
        with pytest.raises(ConsentViolation, match="opted-out"):
            assert_sendable(db, sorted(opted_out))
    assert_sendable(db, sorted(set(PHONES) - opted_out))


def test_audience_excludes_those_already_in_the_target_mailing(db: psycopg.Connection[TupleRow]) -> None:
    run = db.execute("INSERT INTO segment_runs (mailing_name, status, response_window) "
                     "VALUES (%s, 'complete', '72 hours') RETURNING segment_run_id", (SOURCE,)).fetchone()
    assert run is not None
    for phone in PHONES[:3]:
        db.execute("INSERT INTO segment_members (segment_run_id, segment, mailing_name, phone_e164, sent_at) "
                   "VALUES (%s, 'non_responders', %s, %s, %s)", (run[0], SOURCE, phone, T0))
    db.execute("INSERT INTO segment_current VALUES (%s, %s)", (SOURCE, run[0]))
    db.execute("INSERT INTO mailings (mailing_name) VALUES (%s)", (TARGET,))
    db.execute("INSERT INTO wave_recipients (mailing_name, phone_e164, source_mailing, segment, idempotency_key) "
               "VALUES (%s, %s, %s, 'non_responders', 'k1')", (TARGET, PHONES[0], SOURCE))
    db.execute("INSERT INTO contacts (phone_e164, given_name) VALUES (%s, 'Ada')", (PHONES[1],))
    db.commit()
    audience = build_audience(db, SOURCE, "non_responders", TARGET)
    assert [a.phone_e164 for a in audience] == PHONES[1:3]
    assert audience[0].given_name == "Ada" and audience[1].given_name is None
    with pytest.raises(ValueError, match="segment must be one of"):
        build_audience(db, SOURCE, "everyone", TARGET)
