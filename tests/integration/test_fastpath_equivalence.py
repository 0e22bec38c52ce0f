"""The import's fast path (DuckDB) is a shortcut only: on any landing window it gives the same tables as the
Python normaliser alone, rows, rejects with their reasons, consent and the reconciliation.

Hypothesis writes windows of envelopes that are mostly well-formed with every kind of deviation the normaliser
has a rule for (odd JSON types, blank or Unicode-blank values, NUL, numbers as strings and strings as numbers,
national and invalid phones, time zones, fractions of seconds, timestamps out of range, duplicate names, STOP
replies, other channels, extra attributes of every JSON type). Each window is imported twice into two schemas,
once with ``fast_path=True`` and once with ``fast_path=False``; the two must be identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import TupleRow
from schema_pairs import migrated_schemas

from sms_response.landing import LandingWriter
from sms_response.load import LoadResult, import_window
from sms_response.mapping import load_mapping
from sms_response.report import fingerprint
from sms_response.window import Window

pytestmark = [pytest.mark.integration, pytest.mark.once]
MAPPING = load_mapping()
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(hours=1))

PHONES = ["+12015550123", "+12015550124", "(201) 555-0125", "201-555-0126", "+442071838750", "12", "",
          "   ", "+1 201 555 0127", "not a phone", "+999123", "２０１５５５０１２８"]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
ODD = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), TEXT, st.just("\x00x"),
                st.just(" \u3000 "), st.lists(st.one_of(st.integers(), st.floats(), TEXT), max_size=2),
                st.dictionaries(st.sampled_from(["k", "\x00"]), st.one_of(st.integers(), TEXT, st.just("a\x00")),
                                max_size=1))


def _ts() -> st.SearchStrategy[Any]:
    ok = st.integers(0, 3599).map(lambda s: T0 + timedelta(seconds=s))
    return st.one_of(
        ok.map(lambda t: t.isoformat()),
        ok.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ok.map(lambda t: t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "-05:00"),
        ok.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.123456789+00:00")),
        ok.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S")),  # no time zone
        ok.map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S+00:00")),
        st.just("2020-01-01T00:00:00Z"), st.just("2026-02-30T00:00:00Z"), st.just("2026-11-20T24:00:00Z"),
        st.just("2026-11-21T10:00:00+14:00"), st.just(" 2026-11-20T10:00:00Z"), ODD,
    )


def _value(normal: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(normal, normal, normal, ODD)


def _attrs(code: str) -> st.SearchStrategy[list[Any]]:
    common = {
        "eventId": _value(st.uuids().map(str) | st.integers(1, 10**6).map(lambda n: f"e{n}")
                          | st.just("dup-1") | st.just(" padded ") | st.just("x" * 201)),
        "mailingName": _value(st.sampled_from(["M1", "M2", "Wave 1 ✓"])),
    }
    if code == "sentSMS":
        specific = {
            "deliveryStatus": _value(st.sampled_from(["delivered", "failed", "undelivered", "DELIVERED", "bogus"])),
            "statusCode": _value(st.sampled_from(["0", "30005", 0, 30005, "1.0", "-7", " 3"])),
            "messageParts": _value(st.sampled_from(["1", "2", 1, 3])),
            "campaignCode": _value(st.just("SPRING26")),
            "messageBody": _value(st.just("Hi ✉ https://x.example/a")),
        }
    else:
        specific = {
            "interactionType": _value(st.sampled_from(["click", "reply", "action", "opt_out", "opt_in",
                                                       "conversion", "Click", "bogus"])),
            "messageBody": _value(st.sampled_from(["STOP", "stop please", "yes", "Start", "UNSUBSCRIBE!"])),
            "keyword": _value(st.sampled_from(["STOP", " start ", "YES"])),
            "value": _value(st.sampled_from(["12.50", "3", 7, "1e3", "NaN", "0.1"])),
            "url": _value(st.just("https://x.example/a")),
            "suspectedBotClick": _value(st.sampled_from(["true", "false", True])),
        }
    extras = st.dictionaries(st.sampled_from(["extraA", "extraB", "type"]), ODD, max_size=2)

    @st.composite
    def build(draw: st.DrawFn) -> list[Any]:
        out: list[Any] = []
        for name, strategy in {**common, **specific}.items():
            if draw(st.integers(0, 9)) == 0:
                continue  # the attribute is missing
            out.append({"name": name, "value": draw(strategy), "type": "string"})
        for name, value in draw(extras).items():
            out.append({"name": name, "value": value})
        if draw(st.integers(0, 14)) == 0 and out:
            out.append(dict(out[0]))  # a duplicate name
        if draw(st.integers(0, 19)) == 0:
            out.append(draw(st.sampled_from([{"value": 1}, {"name": ""}, {"name": 5, "value": 1}, "attr"])))
        return draw(st.permutations(out))

    return build()


@st.composite
def envelope(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 39)) == 0:
        return draw(st.sampled_from([[], "text", 7, {"events": "none"}, {"identifiers": [], "events": []}]))
    events = []
    for _ in range(draw(st.integers(1, 3))):
        code = draw(st.sampled_from(["sentSMS", "sentSMS", "interactedSMS", "interactedSMS", "openedEmail", 5]))
        events.append({"code": code, "timestamp": draw(_ts()),
                       "attributes": draw(_attrs(code if code == "sentSMS" else "interactedSMS"))})
    if draw(st.integers(0, 19)) == 0:
        events.append(draw(st.sampled_from(["event", {"code": "sentSMS"}, {"code": "sentSMS", "attributes": {}}])))
    identifiers: list[Any] = []
    if draw(st.integers(0, 14)) != 0:
        identifiers.append({"name": "phoneNumber", "value": draw(_value(st.sampled_from(PHONES)))})
    if draw(st.booleans()):
        identifiers.append({"name": "contactId", "value": draw(_value(st.sampled_from(["C1", "C2"])))})
    if draw(st.integers(0, 14)) == 0:
        identifiers.append(draw(st.sampled_from([{"name": "phoneNumber", "value": "+12015550199"}, "id",
                                                 {"value": "x"}, {"name": 3, "value": "y"}])))
    env: dict[str, Any] = {"identifiers": draw(st.permutations(identifiers)), "events": events}
    channel = draw(st.sampled_from(["SMS", "SMS", "SMS", None, "EMAIL", 3, "missing"]))
    if channel != "missing":
        env["channel"] = channel
    return env


def _land(root: Path, envelopes: list[Any]) -> None:
    writer = LandingWriter(root, WINDOW.id, part_max_records=7)  # several parts: positions and order across parts
    for e in envelopes:
        writer.write(e)
    writer.commit({"window_start": WINDOW.start.isoformat(), "window_end": WINDOW.end.isoformat(), "filters": {},
                   "pages": 1, "source": "test", "downloaded_at": "2026-11-20T12:00:00+00:00"})


def _state(conn: psycopg.Connection[TupleRow]) -> dict[str, Any]:
    out = fingerprint(conn)
    out["rejects"] = sorted(conn.execute("SELECT position, reason, raw FROM event_rejects").fetchall())
    return out


@pytest.fixture
def two_schemas(pg_url: str) -> Iterator[tuple[psycopg.Connection[TupleRow], psycopg.Connection[TupleRow]]]:
    with migrated_schemas(pg_url, "fp", ("fast", "slow")) as ((fast, _), (slow, _)):
        yield fast, slow


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB reads parts in chunks of 3 lines here, so chunk and part boundaries both fall inside windows."""
    monkeypatch.setattr("sms_response.staging.CHUNK_LINES", 3)


def _import(conn: psycopg.Connection[TupleRow], root: Path, fast: bool) -> LoadResult:
    schema = str(conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    result = import_window(conn, schema, root, WINDOW, MAPPING, default_region="US", fast_path=fast)
    conn.commit()
    return result


@settings(max_examples=int(os.environ.get("SMS_RT_FASTPATH_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(envelopes=st.lists(envelope(), min_size=1, max_size=25))
def test_fast_path_gives_the_same_tables_as_the_normaliser(
    two_schemas: tuple[psycopg.Connection[TupleRow], psycopg.Connection[TupleRow]], tmp_path_factory: pytest.TempPathFactory,
    envelopes: list[Any],
) -> None:
    root = tmp_path_factory.mktemp("landing")
    _land(root, envelopes)
    fast_conn, slow_conn = two_schemas
    fast = _import(fast_conn, root, fast=True)
    slow = _import(slow_conn, root, fast=False)
    assert fast.reconciles and slow.reconciles
    assert (fast.downloaded, fast.imported, fast.duplicates, fast.rejected) == (
        slow.downloaded, slow.imported, slow.duplicates, slow.rejected)
    assert _state(fast_conn) == _state(slow_conn)


def _wellformed(n: int, phone_offset: int = 0, tag: str = "a") -> list[Any]:
    out = []
    for i in range(n):
        phone = f"+1201555{(i + phone_offset) % 10000:04d}"
        sent = {"eventId": f"{tag}-s{i}", "mailingName": "M1", "deliveryStatus": "delivered", "statusCode": "0",
                "messageParts": 1, "campaignCode": "SPRING26", "carrierNetwork": "Verizon", "extra": {"k": [1, 2.5, "x"]}}
        click = {"eventId": f"{tag}-c{i}", "mailingName": "M1", "interactionType": "click",
                 "url": "https://x.example/a", "value": "1.25"}
        out.append({"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone},
                                                      {"name": "contactId", "value": f"C{i}"}],
                    "events": [{"code": "sentSMS", "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                                "attributes": [{"name": k, "value": v} for k, v in sent.items()]}]})
        if i % 3 == 0:
            out.append({"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
                        "events": [{"code": "interactedSMS", "timestamp": (T0 + timedelta(seconds=i + 5)).isoformat(),
                                    "attributes": [{"name": k, "value": v} for k, v in click.items()]}]})
    return out


def test_well_formed_records_take_the_fast_path_and_known_phones_are_not_parsed_again(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path,
) -> None:
    first = _wellformed(300)
    _land(tmp_path / "w1", first)
    r1 = import_window(db, schema, tmp_path / "w1", WINDOW, MAPPING, default_region="US")
    db.commit()
    assert r1.reconciles and r1.imported == 400 and r1.rejected == 0
    assert r1.fast_path_records == 400  # every record of a well-formed window by the fast path
    assert r1.phones_parsed == 300  # cold: each distinct number parsed once
    assert db.execute("SELECT count(*) FROM phone_lookup WHERE e164 IS NOT NULL").fetchone() == (300,)

    # The next hour: 200 of the same recipients and 100 new ones, new events; plus a STOP reply (Python path).
    w2 = Window(WINDOW.end, WINDOW.end + timedelta(hours=1))
    second = [e for e in _wellformed(300, phone_offset=100, tag="b")]
    for e in second:
        for ev in e["events"]:
            ev["timestamp"] = (datetime.fromisoformat(ev["timestamp"]) + timedelta(hours=1)).isoformat()
    second.append({"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": "+12015550001"}],
                   "events": [{"code": "interactedSMS", "timestamp": (w2.start + timedelta(minutes=1)).isoformat(),
                               "attributes": [{"name": "eventId", "value": "b-stop"}, {"name": "mailingName", "value": "M1"},
                                              {"name": "interactionType", "value": "reply"},
                                              {"name": "messageBody", "value": "Stop"}]}]})
    writer = LandingWriter(tmp_path / "w2", w2.id)
    for e in second:
        writer.write(e)
    writer.commit({"window_start": w2.start.isoformat(), "window_end": w2.end.isoformat(), "filters": {},
                   "pages": 1, "source": "test", "downloaded_at": "2026-11-20T12:00:00+00:00"})
    r2 = import_window(db, schema, tmp_path / "w2", w2, MAPPING, default_region="US")
    db.commit()
    assert r2.reconciles and r2.imported == 401
    assert r2.fast_path_records == 400  # the reply went through the normaliser (keyword rules)
    assert r2.phones_parsed == 100  # only the numbers the first window did not have
    assert db.execute("SELECT interaction_type FROM sms_interactions WHERE event_id = 'b-stop'").fetchone() == ("opt_out",)
    assert db.execute("SELECT status FROM sms_consent WHERE phone_e164 = '+12015550001'").fetchone() == ("opted_out",)


def test_a_fast_path_failure_inside_a_part_hands_the_rest_of_that_part_to_the_normaliser(
    two_schemas: tuple[psycopg.Connection[TupleRow], psycopg.Connection[TupleRow]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """DuckDB failing on one chunk (here: out of memory, raised at the chunk starting at line 3 of the second part)
    loses nothing: the chunks before it stay as the fast path made them, the rest of that part goes through the
    normaliser, the next part is the fast path's again; the tables equal the normaliser-only import."""
    import duckdb

    from sms_response.fastpath import FastPath

    envelopes = _wellformed(30)  # 40 envelopes: parts of 7 records, chunks of 3 lines
    _land(tmp_path, envelopes)
    real_part = FastPath.part
    calls: list[tuple[int, int]] = []

    def failing_part(self: FastPath, index: int, text: str, resolve: Any, first_line: int = 0) -> Any:
        calls.append((index, first_line))
        if (index, first_line) == (1, 3):
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate (injected)")
        return real_part(self, index, text, resolve, first_line)

    monkeypatch.setattr(FastPath, "part", failing_part)
    fast_conn, slow_conn = two_schemas
    with caplog.at_level("WARNING", logger="sms_response.staging"):
        fast = _import(fast_conn, tmp_path, fast=True)
    slow = _import(slow_conn, tmp_path, fast=False)
    assert fast.reconciles and (fast.imported, fast.rejected, fast.duplicates) == (
        slow.imported, slow.rejected, slow.duplicates) == (40, 0, 0)
    assert _state(fast_conn) == _state(slow_conn)
    assert (1, 0) in calls and (1, 3) in calls and (1, 6) not in calls and (2, 0) in calls
    part_1_records = sum(len(e["events"]) for e in envelopes[7:14])
    assert fast.fast_path_records == 40 - (part_1_records - 3)  # lines 3.. of part 1 went to the normaliser
    assert "fast path failed on part-00001" in caplog.text and "from line 3" in caplog.text
