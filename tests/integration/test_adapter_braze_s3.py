"""The braze adapter over a real S3 API on loopback (moto's server), into real PostgreSQL: Currents Avro files
written from the published schemas (tests/fixtures/braze), imported, segmented and measured.

Scenario of the fixture (one Canvas step, window 10:00-11:00 UTC): p1 sent at 09:58 (its Send in the previous
hour), delivered at 10:00, clicked; p2 delivered, its Send without dispatch_id, only a suspected bot's click;
p3 rejected (30005); p4 failed delivery (30007); p5 replied; p6 replied STOP (Unsubscribed); p7 sent at 05:30,
its delivery receipt queued at 10:00, replied at 10:40 without campaign (attributed to its last message);
p8 clicked with is_suspected_bot_click null; p9 failed with a non-numeric provider code and no Send; p11
aborted; a click without a phone; the first Delivery file written twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from event_fixtures import MAPPING, land, publish
from psycopg.rows import TupleRow

from sms_response.adapters import PlatformConnection
from sms_response.adapters.braze import source_from_connection
from sms_response.errors import PlatformError
from sms_response.load import import_window
from sms_response.metrics.refresh import refresh_metrics
from sms_response.segments import refresh_segments
from sms_response.window import Window

pytestmark = pytest.mark.integration
Conn = psycopg.Connection[TupleRow]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "braze" / "currents_sms_20261120.json"
BUCKET, PREFIX, INTEGRATION = "braze-currents-test", "exports/sms", "64f0aaaabbbbcccc00001111"
W = Window(datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))


def key(event_type: str, date: str, offset: int, integration: str = INTEGRATION) -> str:
    export = f"dataexport.prod-03.S3.integration.{integration}"
    return (f"{PREFIX}/{export}/event_type=users.messages.sms.{event_type}/date={date}/2/zone-b/"
            f"{export}+0+{offset}.avro")


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, Any]]:
    import boto3
    from moto.server import ThreadedMotoServer

    from sms_simulator.braze import avro_bytes
    from sms_simulator.braze_schemas import blank

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="AKIATEST", aws_secret_access_key="s3cr3t",
                          region_name="eu-west-1")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for f in json.loads(FIXTURE.read_text())["files"]:
        records = [{**blank(f["event_type"]), **r} for r in f["records"]]
        client.put_object(Bucket=BUCKET, Key=key(f["event_type"], f["date"], f["offset"]),
                          Body=avro_bytes(f["event_type"], records))
    # Another integration's export and a stray object: neither is read.
    other = [{**blank("ShortLinkClick"), "id": "other-1", "time": 1795169000, "url": "https://x.example",
              "short_url": "https://brz.ai/zz", "user_id": "u", "user_phone_number": "+12015550999"}]
    client.put_object(Bucket=BUCKET, Key=key("ShortLinkClick", "2026-11-20-10", 1, "other0000"),
                      Body=avro_bytes("ShortLinkClick", other))
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key('Delivery', '2026-11-20-10', 2)}.tmp", Body=b"partial")
    yield endpoint, client
    server.stop()


def connection(endpoint: str, **extra: Any) -> PlatformConnection:
    return PlatformConnection("braze", "", "AKIATEST", "s3cr3t", {
        "platform": "braze", "bucket": BUCKET, "prefix": PREFIX, "endpoint_url": endpoint, "region": "eu-west-1",
        "integration_id": INTEGRATION, "lookback_hours": 12, **extra})


def p(n: int) -> str:
    return f"+12015550{n:03d}"


def test_a_window_of_currents_files_imports_segments_and_measures_and_bot_clicks_are_kept_not_counted(
    s3: tuple[str, Any], db: Conn, schema: str, tmp_path: Path
) -> None:
    source = source_from_connection(connection(s3[0]))
    assert "s3cr3t" not in source.base_url and "AKIATEST" not in source.base_url
    envelopes = [e for page in source.pages(W) for e in page.envelopes]
    land(tmp_path, W, envelopes)
    r = import_window(db, schema, tmp_path, W, MAPPING, default_region="US", run_id="test")
    db.commit()
    assert (r.downloaded, r.imported, r.duplicates, r.rejected) == (18, 15, 2, 1) and r.reconciles
    publish(db, r.load_id)

    sent = {row[0]: row[1:] for row in db.execute(
        "SELECT phone_e164, sent_at, delivery_status, status_code, campaign_code, contact_id, is_late FROM sms_sent")}
    at = datetime(2026, 11, 20, tzinfo=UTC)
    assert sent[p(1)] == (at + timedelta(hours=9, minutes=58), "delivered", None, "SPRING26", None, True)
    assert sent[p(2)][:2] == (at + timedelta(hours=10, minutes=1), "delivered")  # Send without dispatch_id
    assert sent[p(3)][1:3] == ("failed", 30005) and sent[p(4)][1:3] == ("undelivered", 30007)
    assert sent[p(7)][0] == at + timedelta(hours=5, minutes=30) and sent[p(7)][-1]  # Send 4.5 h before the window
    assert sent[p(5)][4] == "C000005"  # external_user_id, where the event carries one
    assert sent[p(9)][:3] == (at + timedelta(hours=10, minutes=1, seconds=10), "undelivered", None)
    assert len(sent) == 9
    inter = {row[0]: row[1:] for row in db.execute(
        "SELECT event_id, phone_e164, mailing_name, interaction_type, keyword, link_token, suspected_bot_click "
        "FROM sms_interactions")}
    mailing = json.loads(FIXTURE.read_text())["mailing"]
    assert inter["in-06"] == (p(6), mailing, "opt_out", "STOP", None, None)
    assert inter["in-07"][:3] == (p(7), mailing, "reply")  # attributed to the last message sent to p7
    assert inter["clk-01"] == (p(1), mailing, "click", None, "Tk01aB", False)
    assert inter["clk-02-bot"][-1] is True and inter["clk-08"][-1] is None
    assert db.execute("SELECT reason FROM event_rejects").fetchall() == [("phoneNumber identifier missing",)]
    db.commit()

    refresh_segments(db, [mailing], trigger={"test": True})
    responders = {r[0] for r in db.execute("SELECT phone_e164 FROM responders WHERE mailing_name = %s", (mailing,))}
    others = {r[0] for r in db.execute("SELECT phone_e164 FROM non_responders WHERE mailing_name = %s", (mailing,))}
    assert responders == {p(1), p(5), p(7), p(8)}
    assert others == {p(2)}  # only a bot clicked: a non-responder
    db.commit()

    refresh_metrics(db, [mailing])
    row = db.execute("SELECT sent, delivered, clicks, unique_clickers, responders, repliers, opt_outs "
                     "FROM report_mailings WHERE mailing_name = %s", (mailing,)).fetchone()
    assert row == (9, 6, 2, 2, 4, 2, 1)  # the bot's click is in sms_interactions, not in the figures


def test_filters_paging_and_a_rerun_read_the_same_records(s3: tuple[str, Any]) -> None:
    source = source_from_connection(connection(s3[0]))
    first = [e for page in source.pages(W, page_size=4) for e in page.envelopes]
    assert [len(page.envelopes) for page in source.pages(W, page_size=4)] == [4, 4, 4, 4, 2]
    assert [e for page in source.pages(W) for e in page.envelopes] == first
    clicks = [e for page in source.pages(W, codes=["interactedSMS"]) for e in page.envelopes]
    assert len(clicks) == 7 and all(e["events"][0]["code"] == "interactedSMS" for e in clicks)
    none = [e for page in source.pages(W, mailings=["another"]) for e in page.envelopes]
    assert none == []
    # Without the look-back, p7's message keeps its delivery receipt's time and its reply finds no mailing.
    short = source_from_connection(connection(s3[0], lookback_hours=0))
    by_id = {e["events"][0]["attributes"][0]["value"]: e for page in short.pages(W) for e in page.envelopes}
    assert by_id["out-07"]["events"][0]["timestamp"] == "2026-11-20T05:30:04+00:00"
    assert "mailingName" not in {a["name"] for a in by_id["in-07"]["events"][0]["attributes"]}


def test_a_missing_bucket_is_a_clear_error(s3: tuple[str, Any]) -> None:
    source = source_from_connection(connection(s3[0], bucket="no-such-currents-bucket"))
    with pytest.raises(PlatformError, match="no-such-currents-bucket.*bucket and prefix"):
        list(source.pages(W))
