"""Conflicting re-deliveries are kept beside the version loaded; other channels are skipped, by channel; a line
that is not JSON says so. Real PostgreSQL, real landing files, both import paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from sms_response import migrate
from sms_response.db import connect, drop_schema
from sms_response.landing import LandingWriter
from sms_response.load import LoadResult, import_window
from sms_response.mapping import load_mapping
from sms_response.report import fingerprint
from sms_response.window import Window

pytestmark = pytest.mark.integration
MAPPING = load_mapping()
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
H = timedelta(hours=1)
W1, W2 = Window(T0, T0 + H), Window(T0 + H, T0 + 2 * H)


def sent(eid: str, phone: str, ts: datetime, status: str = "delivered", code: str = "0", channel: Any = "SMS",
         **extra: Any) -> dict[str, Any]:
    attrs = {"eventId": eid, "mailingName": "M1", "deliveryStatus": status, "statusCode": code, **extra}
    env: dict[str, Any] = {"identifiers": [{"name": "phoneNumber", "value": phone}],
                           "events": [{"code": "sentSMS", "timestamp": ts.isoformat(),
                                       "attributes": [{"name": k, "value": v} for k, v in attrs.items()]}]}
    if channel is not None:
        env["channel"] = channel
    return env


def click(eid: str, phone: str, ts: datetime) -> dict[str, Any]:
    attrs = {"eventId": eid, "mailingName": "M1", "interactionType": "click", "url": "https://x.example/a"}
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
            "events": [{"code": "interactedSMS", "timestamp": ts.isoformat(),
                        "attributes": [{"name": k, "value": v} for k, v in attrs.items()]}]}


def land(root: Path, window: Window, envelopes: list[Any], part_max: int = 50_000) -> None:
    writer = LandingWriter(root, window.id, part_max_records=part_max)
    for e in envelopes:
        writer.write(e)
    writer.commit({"window_start": window.start.isoformat(), "window_end": window.end.isoformat(), "filters": {},
                   "pages": 1, "source": "test", "downloaded_at": "2026-11-20T12:00:00+00:00"})


def load(db: psycopg.Connection[TupleRow], schema: str, root: Path, window: Window, fast: bool = True) -> LoadResult:
    result = import_window(db, schema, root, window, MAPPING, default_region="US", fast_path=fast)
    db.commit()
    return result


def conflicts(db: psycopg.Connection[TupleRow]) -> list[tuple[Any, ...]]:
    return db.execute("SELECT event_id, load_id, kept_load_id, kept ->> 'delivery_status', "
                      "delivered ->> 'delivery_status', changed FROM event_conflicts ORDER BY 1, 2").fetchall()


@pytest.mark.scenario("re-deliveries", "an event re-delivered in a later window with a changed status is kept "
                                       "beside the first version, whatever order the windows load in")
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "normaliser"])
def test_a_later_window_redelivering_with_other_content_is_a_conflict_in_either_load_order(
    pg_url: str, tmp_path: Path, fast: bool,
) -> None:
    land(tmp_path / "a", W1, [sent("e1", "+12015550101", T0 + timedelta(minutes=1)),
                              sent("e2", "+12015550102", T0 + timedelta(minutes=2))])
    # W2 re-delivers e1 with the final status (and code), e2 unchanged.
    land(tmp_path / "b", W2, [sent("e1", "+12015550101", T0 + timedelta(minutes=1), "failed", "30005"),
                              sent("e2", "+12015550102", T0 + timedelta(minutes=2)),
                              sent("e3", "+12015550103", T0 + H + timedelta(minutes=3))])
    prints = []
    for order in ((("a", W1), ("b", W2)), (("b", W2), ("a", W1))):
        schema = f"t_redeliver_{'ab' if order[0][0] == 'a' else 'ba'}"
        migrate.upgrade(pg_url, schema)
        db = connect(pg_url, schema)
        try:
            results = {w.id: load(db, schema, tmp_path / d, w, fast) for d, w in order}
            assert all(r.reconciles for r in results.values())
            assert conflicts(db) == [("e1", W2.id, W1.id, "delivered", "failed", ["delivery_status", "status_code"])]
            counts = db.execute("SELECT load_id, imported, duplicates, conflicts FROM load_log ORDER BY 1").fetchall()
            assert counts == [(W1.id, 2, 0, 0), (W2.id, 1, 2, 1)]
            # The kept version is the first window's; a rerun of either window changes nothing.
            assert db.execute("SELECT delivery_status FROM sms_sent WHERE event_id = 'e1'").fetchone() == ("delivered",)
            before = fingerprint(db)
            load(db, schema, tmp_path / "b", W2, fast)
            load(db, schema, tmp_path / "a", W1, fast)
            assert fingerprint(db) == before
            prints.append(before)
        finally:
            db.close()
            drop_schema(pg_url, schema)
    assert prints[0] == prints[1]  # the tables do not depend on the order the windows loaded in


@pytest.mark.scenario("re-deliveries", "the same event twice in one window (also across landing parts) with "
                                       "different content: the first kept, the other recorded; an identical "
                                       "re-delivery is a plain duplicate")
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "normaliser"])
def test_conflicts_within_a_window_and_across_parts(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path, fast: bool,
) -> None:
    t = T0 + timedelta(minutes=5)
    land(tmp_path, W1, [
        sent("e1", "+12015550101", t, promo="X"),
        sent("e1", "+12015550101", t, promo="X"),                        # identical: duplicate only
        sent("e2", "+12015550102", t),
        sent("e2", "+12015550102", t, "undelivered", "30003"),           # same part, other content
        click("e3", "+12015550103", t),                                  # an id of two event codes: the codes
        sent("e1", "+12015550101", t + timedelta(seconds=1)),            # load in mapping order, sentSMS first
        sent("e3", "+12015550103", t),                                   # (next part: other time, no promo)
    ], part_max=4)
    r = load(db, schema, tmp_path, W1, fast)
    assert r.reconciles and (r.imported, r.duplicates, r.conflicts) == (3, 4, 3)
    rows = db.execute("SELECT event_id, event_code, kept_load_id, changed, kept FROM event_conflicts "
                      "ORDER BY event_id").fetchall()
    assert [(e, c, k, ch) for e, c, k, ch, _ in rows] == [
        ("e1", "sentSMS", W1.id, ["attributes", "sent_at"]),
        ("e2", "sentSMS", W1.id, ["delivery_status", "status_code"]),
        ("e3", "interactedSMS", W1.id, ["event_code"]),
    ]
    assert rows[2][4] == {"event_code": "sentSMS"}
    assert rows[0][4]["attributes"] == {"promo": "X"}


@pytest.mark.scenario("channels", "email and push events in the download are skipped by channel, not rejected, "
                                  "and the window reconciles")
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "normaliser"])
def test_other_channels_are_skipped_by_channel(
    db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path, fast: bool,
) -> None:
    t = T0 + timedelta(minutes=5)
    envelopes: list[Any] = [sent(f"s{i}", f"+1201555{i:04d}", t) for i in range(3)]
    envelopes += [sent(f"m{i}", f"+1201555{i:04d}", t, channel="EMAIL") for i in range(20)]
    envelopes += [sent(f"p{i}", f"+1201555{i:04d}", t, channel="push") for i in range(5)]
    envelopes += [sent("n1", "+12015550001", t, channel=None), sent("x1", "+12015550002", t, channel=7),
                  sent("x2", "+12015550003", t, channel="  ")]
    land(tmp_path, W1, [*envelopes, "not json"])
    r = load(db, schema, tmp_path, W1, fast)
    assert r.reconciles
    assert (r.downloaded, r.imported, r.rejected, r.skipped) == (32, 4, 3, 25)
    assert r.skipped_by_channel == {"EMAIL": 20, "PUSH": 5}
    reasons = sorted(x[0] for x in db.execute("SELECT reason FROM event_rejects").fetchall())
    assert reasons == ["channel is blank", "channel is not a string (int)", "envelope is not a JSON object (str)"]
    assert db.execute("SELECT skipped, skipped_by_channel FROM load_log").fetchone() == (25, {"EMAIL": 20, "PUSH": 5})
    # 3 rejects out of 7 SMS records: the reject rate the gate sees leaves the 25 skipped out.
    rate = db.execute("SELECT rejected::float / (downloaded - skipped) FROM load_log").fetchone()
    assert rate == (3 / 7,)


@pytest.mark.scenario("bad input", "a landing line that is not JSON is rejected as such, with the parser's message")
def test_a_line_that_is_not_json_says_so(db: psycopg.Connection[TupleRow], schema: str, tmp_path: Path) -> None:
    import gzip
    import hashlib

    land(tmp_path, W1, [sent("s1", "+12015550101", T0 + timedelta(minutes=1))])
    directory = (tmp_path / W1.id).resolve()
    part = directory / "part-00000.jsonl.gz"
    text = gzip.decompress(part.read_bytes()) + b'{"channel": "SMS", "events": [\n'
    part.write_bytes(gzip.compress(text, mtime=0))
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["parts"][0].update(sha256=hashlib.sha256(part.read_bytes()).hexdigest(), envelopes=2, records=2,
                                bytes=part.stat().st_size)
    manifest["records"] = manifest["envelopes"] = 2
    (directory / "manifest.json").write_text(json.dumps(manifest))
    for fast in (True, False):
        r = load(db, schema, tmp_path, W1, fast)
        assert r.reconciles and (r.imported, r.rejected) == (1, 1)
        [(position, reason)] = db.execute("SELECT position, reason FROM event_rejects").fetchall()
        assert position == "part-00000.jsonl.gz:1"
        assert reason.startswith("line is not valid JSON (Expecting value")
