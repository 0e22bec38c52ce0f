"""Hypothesis fuzzes whole windows through ``import_window``: landing parts of arbitrary lines (envelopes with
anything in any slot, arbitrary JSON, truncated envelopes, blank lines, binary garbage), imported by the fast path
and by the normaliser alone into two schemas.

Whatever the window holds: no exception escapes, it reconciles (downloaded = imported + duplicates + rejected +
skipped), downloaded is the records of its lines, the tables hold exactly ``imported`` rows and ``rejected``
quarantined records for it, and both paths agree. Reloading the same window for every example is part of the
test: each import replaces the previous one.

The generator also makes what once failed whole windows (the bad-input corpus pinned each, now fixed): NUL and
lone surrogates in any text (an eventId too), numbers beyond PostgreSQL numeric's range, suspectedBotClick values
that are not booleans, mailing names longer than an index entry, nesting deeper than Python's recursion limit.
"""

from __future__ import annotations

import json
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
from raw_landing import land_lines, records_of
from schema_pairs import migrated_schemas

from sms_response.load import LoadResult, import_window
from sms_response.mapping import load_mapping
from sms_response.report import fingerprint
from sms_response.window import Window

pytestmark = [pytest.mark.integration, pytest.mark.once]
Conn = psycopg.Connection[TupleRow]
MAPPING = load_mapping()
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(hours=1))
EXAMPLES = int(os.environ.get("SMS_RT_FUZZ_EXAMPLES", "40"))

CHARS = st.one_of(st.characters(), st.sampled_from(["\u3000", "🎉", "é", "'", '"', "\\", "\x00", "\ud800", "\udfff"]))
TEXT = st.text(CHARS, max_size=10)
NUL_TEXT = st.one_of(TEXT, TEXT.map(lambda t: t + "\x00"))
HUGE = st.one_of(st.sampled_from(["1e1000000", "-1e200000", "1e-20000"]), st.integers(501, 3000).map(lambda n: "M" * n))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), NUL_TEXT,
                    st.decimals(allow_nan=False).map(str), HUGE)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(NUL_TEXT, inner, max_size=3)), max_leaves=8)
PHONES = ["+12015550123", "+12015550124", "(201) 555-0125", "+442071838750", "12", "", "not a phone", "２０１５５５０１２６"]
MAPPED = sorted({c.attribute for m in MAPPING.codes.values() for c in m.columns})


def _maybe(normal: st.SearchStrategy[Any], odd: st.SearchStrategy[Any] = JSON) -> st.SearchStrategy[Any]:
    return st.one_of(normal, normal, normal, odd)


@st.composite
def _event(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(JSON)
    attrs: list[Any] = [{"name": "eventId", "value": draw(_maybe(
        st.sampled_from([f"e{n}" for n in range(12)]),  # repeats: duplicates within the window
        st.one_of(NUL_TEXT, st.integers(), st.booleans(), st.none(), st.floats())))}]
    for name in draw(st.lists(st.sampled_from(MAPPED), max_size=6, unique=True)):
        attrs.append({"name": name, "value": draw(_maybe(st.sampled_from(
            ["M1", "delivered", "failed", "click", "reply", "STOP", "ＳＴＯＰ", "opt_out", "0", "2", "12.50", "true",
             "https://x.example"])))})
    for _ in range(draw(st.integers(0, 2))):
        attrs.append(draw(_maybe(st.fixed_dictionaries({"name": TEXT, "value": JSON}))))
    return {"code": draw(_maybe(st.sampled_from(["sentSMS", "interactedSMS", "openedEmail"]))),
            "timestamp": draw(_maybe(st.integers(-7200, 7200).map(
                lambda s: (T0 + timedelta(minutes=30, seconds=s)).isoformat()))),
            "attributes": draw(st.permutations(attrs))}


@st.composite
def _envelope(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 14)) == 0:
        return draw(JSON)
    envelope: dict[str, Any] = {
        "channel": draw(_maybe(st.sampled_from(["SMS", "SMS", "sms", "EMAIL", "push"]))),
        "identifiers": draw(_maybe(st.lists(st.fixed_dictionaries({
            "name": _maybe(st.sampled_from(["phoneNumber", "contactId"])),
            "value": _maybe(st.sampled_from(PHONES))}), max_size=3))),
        "events": draw(_maybe(st.lists(_event(), min_size=1, max_size=3))),
    }
    for key in draw(st.sets(st.sampled_from(list(envelope)), max_size=1)):
        del envelope[key]
    return envelope


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    # Without ensure_ascii a lone surrogate is written as it is (bytes that are not UTF-8: the line is not JSON).
    text = json.dumps(draw(_envelope()), ensure_ascii=draw(st.booleans()), separators=(",", ":")).encode(
        "utf-8", "surrogatepass")
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return text[: draw(st.integers(0, len(text) - 1))]  # truncated
    if kind == 1:
        return draw(st.sampled_from([b"", b"   ", b"null", b"{}", b"[]"]))
    if kind == 2:
        return draw(st.binary(max_size=30)).replace(b"\n", b" ")
    if kind == 3 and text.startswith(b"{"):  # nested deeper than Python's recursion limit
        depth = draw(st.integers(1100, 5000))
        return b'{"deep":' + b"[" * depth + b"]" * depth + b"," + text[1:]
    return text


def _count(conn: Conn, query: str) -> int:
    row = conn.execute(query, (WINDOW.id,)).fetchone()
    return int(row[0]) if row else 0


def _import(conn: Conn, schema: str, root: Path, fast: bool) -> tuple[LoadResult, dict[str, Any]]:
    result = import_window(conn, schema, root, WINDOW, MAPPING, default_region="US", run_id="fuzz", fast_path=fast)
    conn.commit()
    rows = (_count(conn, "SELECT count(*) FROM sms_sent WHERE load_id = %s")
            + _count(conn, "SELECT count(*) FROM sms_interactions WHERE load_id = %s"))
    assert rows == result.imported, (rows, result)
    assert _count(conn, "SELECT count(*) FROM event_rejects WHERE load_id = %s") == result.rejected, result
    state = fingerprint(conn)
    state["rejects"] = sorted(conn.execute("SELECT position, reason, raw FROM event_rejects").fetchall())
    return result, state


@pytest.fixture(scope="module")
def two_schemas(pg_url: str) -> Iterator[list[tuple[Conn, str]]]:
    with migrated_schemas(pg_url, "fz", ("fast", "slow")) as schemas:
        yield schemas


@pytest.mark.scenario("bad input", "whole windows of fuzzed envelopes and broken lines through import_window "
                                   "(both paths): no exception, every window reconciles, rows + rejects = records")
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(parts=st.lists(st.lists(_line(), min_size=1, max_size=12), min_size=1, max_size=3))
def test_any_window_reconciles_and_both_paths_agree(
    two_schemas: list[tuple[Conn, str]], tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
    parts: list[list[bytes]],
) -> None:
    monkeypatch.setattr("sms_response.staging.CHUNK_LINES", 4)
    root = tmp_path_factory.mktemp("fuzz")
    manifest = land_lines(root, WINDOW, parts)
    assert manifest.records == sum(records_of(line) for part in parts for line in part)
    (fast_conn, fast_schema), (slow_conn, slow_schema) = two_schemas
    fast, fast_state = _import(fast_conn, fast_schema, root, fast=True)
    slow, slow_state = _import(slow_conn, slow_schema, root, fast=False)
    for r in (fast, slow):
        assert r.reconciles, r
        assert r.downloaded == manifest.records
        assert r.imported + r.duplicates + r.rejected + r.skipped == r.downloaded
        assert sum(r.skipped_by_channel.values()) == r.skipped
        assert 0 <= r.conflicts <= r.duplicates
    assert (fast.imported, fast.duplicates, fast.rejected, fast.skipped, fast.conflicts) == (
        slow.imported, slow.duplicates, slow.rejected, slow.skipped, slow.conflicts)
    assert fast_state == slow_state
