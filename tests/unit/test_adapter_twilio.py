"""The Twilio adapter on payloads written from Twilio's published schemas (tests/fixtures/twilio): filed as the
receiver files them, read back as a window's canonical records, and read by the importer's own normaliser."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sms_response.adapters import PlatformConnection
from sms_response.adapters.twilio import TwilioEventStreamsSource, source_from_connection
from sms_response.adapters.twilio_store import PartitionWriter, read_lines, stored_line
from sms_response.errors import ConfigError
from sms_response.events import EventRow, Normaliser, Reject
from sms_response.mapping import load_mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
MG = "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"
M1 = "SPRING26_Wave1_Offer_20261120090000"
RECEIVED = datetime(2026, 11, 20, 12, tzinfo=UTC)
T9 = datetime(2026, 11, 20, 9, tzinfo=UTC)
H = timedelta(hours=1)


def fixture(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return events


def file_events(root: Path, events: list[dict[str, Any]], received: datetime = RECEIVED) -> None:
    PartitionWriter(root).append(stored_line(e, received) for e in events)


def source(root: Path, **extra: Any) -> TwilioEventStreamsSource:
    return source_from_connection(PlatformConnection(
        "twilio", "", extra={"events_dir": str(root), "mailing_services": {MG: M1}, **extra}))


def records(root: Path, start: datetime = T9, end: datetime = T9 + H, **extra: Any) -> list[Any]:
    return [r for page in source(root, **extra).pages(Window(start, end)) for r in page.envelopes]


def normalised(recs: list[Any], start: datetime = T9, end: datetime = T9 + H) -> list[EventRow | Reject]:
    window = Window(start, end)
    norm = Normaliser(load_mapping(), window, window.id, PhoneNormaliser("US"))
    return [item for i, r in enumerate(recs) for item in norm.normalise(r, f"p:{i}")]


def attrs(record: dict[str, Any]) -> dict[str, Any]:
    return {a["name"]: a["value"] for a in record["events"][0]["attributes"]}


def column(row: EventRow, name: str) -> Any:
    cmap = load_mapping().for_code(row.code)
    assert cmap is not None
    return row.values[4 + [c.column for c in cmap.columns].index(name)]


def test_status_events_in_any_order_become_one_send_with_its_final_status_and_history(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("delivered_out_of_order"))
    [rec] = records(tmp_path)
    a = attrs(rec)
    assert rec["events"][0]["code"] == "sentSMS" and rec["identifiers"] == [{"name": "phoneNumber",
                                                                              "value": "+14155550142"}]
    assert rec["events"][0]["timestamp"] == "2026-11-20T09:12:03.118Z"  # the send (queued), not the receipt
    assert a["eventId"] == "SM11112222333344445555666677778888"
    assert (a["mailingName"], a["campaignCode"], a["deliveryStatus"], a["statusCode"]) == (
        M1, "SPRING26", "delivered", "0")
    assert [h["status"] for h in a["statusHistory"]] == ["queued", "sent", "delivered"]
    [row] = normalised([rec])
    assert isinstance(row, EventRow) and not row.is_late
    assert column(row, "delivery_status") == "delivered" and column(row, "message_parts") == 1


def test_error_code_as_a_string_a_number_or_empty_is_the_status_code(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("undelivered_string_error_code") + fixture("failed_without_time"))
    rows = {r.event_id: r for r in normalised(records(tmp_path)) if isinstance(r, EventRow)}
    undelivered, failed = rows["SM22223333444455556666777788889999"], rows["SM33334444555566667777888899990000"]
    assert (column(undelivered, "delivery_status"), column(undelivered, "status_code")) == ("undelivered", 30003)
    assert column(undelivered, "message_parts") == 2  # numberOfSegments sent as a string
    assert column(undelivered, "mailing_name") == M1  # no tag: the messaging service's mailing
    assert (column(failed, "delivery_status"), column(failed, "status_code")) == ("failed", 30005)


def test_raw_dlr_done_date_is_kept_verbatim_and_never_taken_for_the_time(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("undelivered_string_error_code"))
    [rec] = records(tmp_path)
    assert attrs(rec)["rawDlrDoneDate"] == "2611200421"  # YYMMDDhhmm, carrier clock, no time zone
    [row] = normalised([rec])
    assert isinstance(row, EventRow) and row.event_time == datetime(2026, 11, 20, 9, 20, tzinfo=UTC)
    assert json.loads(str(row.values[-3]))["rawDlrDoneDate"] == "2611200421"


def test_an_event_without_cloudevent_time_is_filed_by_its_data_timestamp(tmp_path: Path) -> None:
    failed = fixture("failed_without_time")[0]
    rel, line = stored_line(failed, RECEIVED)
    doc = json.loads(line)
    assert (doc["time"], doc["time_from"]) == ("2026-11-20T09:30:01.900Z", "data.timestamp")
    assert rel == Path("2026/11/20/09.jsonl")


def test_a_time_without_time_zone_is_never_guessed(tmp_path: Path) -> None:
    click = fixture("link_clicked")[0]
    click["time"], click["data"]["click_time"] = "2026-11-20T09:35:27", "2026-11-20T09:35:27"
    doc = json.loads(stored_line(click, RECEIVED)[1])
    assert (doc["time"], doc["time_from"]) == ("2026-11-20T12:00:00.000Z", "received_at")


def test_a_receipt_in_the_next_window_reports_the_send_there_and_counts_it_late(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("straddling_receipt"))
    assert records(tmp_path, T9, T9 + H) == []  # queued only: not yet classifiable
    [rec] = records(tmp_path, T9 + H, T9 + 2 * H)
    assert rec["events"][0]["timestamp"] == "2026-11-20T09:59:58.120Z"
    [row] = normalised([rec], T9 + H, T9 + 2 * H)
    assert isinstance(row, EventRow) and row.is_late
    # Without the look-back the send time is unknown: the receipt's is used.
    [short] = records(tmp_path, T9 + H, T9 + 2 * H, lookback_hours=0)
    assert short["events"][0]["timestamp"] == "2026-11-20T10:00:31.004Z"


def test_redelivered_events_repeat_their_record_for_the_importer_to_count(tmp_path: Path) -> None:
    events = fixture("delivered_out_of_order") + fixture("link_clicked")
    file_events(tmp_path, events + [events[0], events[-1]])  # the delivered status and the click, twice
    recs = records(tmp_path)
    assert len(recs) == 4
    rows = normalised(recs)
    assert sorted(r.event_id for r in rows if isinstance(r, EventRow)) == sorted(
        ["SM11112222333344445555666677778888"] * 2 + ["EZc5d6e7f8091a2b3c4d5e6f708192a3b4"] * 2)
    assert recs.count(recs[0]) == 2


def test_terminal_statuses_in_two_windows_report_one_event_id_in_both(tmp_path: Path) -> None:
    events = fixture("delivered_out_of_order")
    read = json.loads(json.dumps(events[0]))
    read.update(type="com.twilio.messaging.message.read", id="EZread", time="2026-11-20T10:05:00.000Z")
    read["data"].update(messageStatus="READ", timestamp="2026-11-20T10:05:00.000Z")
    file_events(tmp_path, [*events, read])
    [first] = records(tmp_path, T9, T9 + H)
    [second] = records(tmp_path, T9 + H, T9 + 2 * H)
    assert attrs(first)["eventId"] == attrs(second)["eventId"]
    assert (attrs(second)["deliveryStatus"], attrs(second)["finalStatus"]) == ("delivered", "read")
    assert first["events"][0]["timestamp"] == second["events"][0]["timestamp"]


def test_replies_are_classified_as_the_importer_classifies_reply_text(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("inbound_messages"))
    rows = [r for r in normalised(records(tmp_path)) if isinstance(r, EventRow)]
    got = {r.event_id: (r.interaction_type, column(r, "reply_text"), column(r, "keyword")) for r in rows}
    assert got == {"SM55556666777788889999000011112222": ("reply", "Yes please!", None),
                   "SM66667777888899990000111122223333": ("opt_out", "Stop.", "STOP"),
                   "SM77778888999900001111222233334444": ("opt_in", "unstop", "START")}
    assert {column(r, "mailing_name") for r in rows} == {M1}


def test_a_reply_belongs_to_its_services_mailing_else_to_the_last_message_to_that_phone(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("delivered_out_of_order") + fixture("inbound_messages")[:1])
    reply = [r for r in records(tmp_path, mailing_services={}) if r["events"][0]["code"] == "interactedSMS"]
    assert attrs(reply[0])["mailingName"] == M1  # the message sent to that phone at 09:12
    [unattributed] = [r for r in records(tmp_path, mailing_services={}, reply_to_last_message=False)
                      if r["events"][0]["code"] == "interactedSMS"]
    assert "mailingName" not in attrs(unattributed)
    [reject] = normalised([unattributed])
    assert isinstance(reject, Reject) and reject.reason == "mailingName missing"


def test_a_click_carries_link_token_and_its_messages_mailing(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("delivered_out_of_order") + fixture("link_clicked"))
    [click] = [r for r in records(tmp_path, mailing_services={}) if r["events"][0]["code"] == "interactedSMS"]
    a = attrs(click)
    assert (a["mailingName"], a["interactionType"], a["url"], a["linkToken"]) == (
        M1, "click", "https://shop.example/wave1", "Ab12Cd34Ef")
    assert click["events"][0]["timestamp"] == "2026-11-20T09:35:27.331Z"


def test_unreadable_lines_and_broken_events_are_quarantined_and_other_types_ignored(tmp_path: Path) -> None:
    broken = fixture("delivered_out_of_order")[0]
    del broken["data"]["messageSid"]
    voice = {"specversion": "1.0", "type": "com.twilio.voice.insights.call-summary.complete", "id": "EZvoice",
             "time": "2026-11-20T09:10:00.000Z", "data": {"callSid": "CA1"}}
    file_events(tmp_path, [broken, voice])
    with open(tmp_path / "2026/11/20/09.jsonl", "ab") as fh:
        fh.write(b"{not json\n")
    recs = records(tmp_path)
    assert len(recs) == 2 and all("events" not in r for r in recs)
    assert {r["twilio_problem"] for r in recs} == {
        "com.twilio.messaging.message.delivered event EZ0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a has no messageSid",
        "partition line is not a stored CloudEvent (unreadable JSON)"}
    assert all(isinstance(r, Reject) and r.reason == "envelope has no events list" for r in normalised(recs))


def test_the_order_events_arrive_in_never_changes_a_windows_records(tmp_path: Path) -> None:
    events = [e for name in ("delivered_out_of_order", "undelivered_string_error_code", "failed_without_time",
                             "straddling_receipt", "inbound_messages", "link_clicked") for e in fixture(name)]
    outputs = []
    for seed in range(3):
        random.Random(seed).shuffle(events)
        root = tmp_path / str(seed)
        for e in events:  # one request per event: the filing order is the arrival order
            file_events(root, [e])
        outputs.append(records(root, T9, T9 + 2 * H))
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) == 8


def test_filters_keep_only_the_requested_codes_and_mailings(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("delivered_out_of_order") + fixture("link_clicked"))
    window = Window(T9, T9 + H, event_codes=("interactedSMS",))
    recs = [r for p in source(tmp_path).pages(window, window.event_codes) for r in p.envelopes]
    assert [r["events"][0]["code"] for r in recs] == ["interactedSMS"]
    assert [r for p in source(tmp_path).pages(window, (), ("OTHER",)) for r in p.envelopes] == []


def test_the_mailing_services_file_is_read_at_each_window(tmp_path: Path) -> None:
    file_events(tmp_path / "events", fixture("undelivered_string_error_code"))
    services = tmp_path / "services.json"
    services.write_text("{}", encoding="utf-8")
    src = source(tmp_path / "events", mailing_services={}, mailing_services_file=str(services))
    assert "mailingName" not in attrs(next(iter(src.pages(Window(T9, T9 + H)))).envelopes[0])
    services.write_text(json.dumps({MG: "SPRING26_Later_20261120090000"}), encoding="utf-8")
    assert attrs(next(iter(src.pages(Window(T9, T9 + H)))).envelopes[0])["mailingName"] == (
        "SPRING26_Later_20261120090000")


@pytest.mark.parametrize(("extra", "message"), [
    ({}, "'events_dir' must name the Twilio receiver's --dir"),
    ({"events_dir": "/x", "lookback_hours": "a day"}, "'lookback_hours' must be a number of hours"),
    ({"events_dir": "/x", "lookback_hours": -1}, "'lookback_hours' must be between 0 and 336"),
    ({"events_dir": "/x", "mailing_services": ["MG1"]}, "'mailing_services' must map messaging service SIDs"),
    ({"events_dir": "/x", "mailing_tag": ""}, "'mailing_tag' must be a tag name"),
])
def test_a_bad_connection_extra_names_the_setting(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        source_from_connection(PlatformConnection("twilio", "", extra=extra))


def test_a_missing_events_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist: point the sms_platform connection's extra 'events_dir'"):
        records(tmp_path / "nowhere")


def test_repair_cuts_an_unfinished_line_and_the_reader_skips_it_meanwhile(tmp_path: Path) -> None:
    file_events(tmp_path, fixture("link_clicked"))
    path = tmp_path / "2026/11/20/09.jsonl"
    complete = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b'{"received_at": "2026-11-20T12:00:00.000Z", "time": "2026-11-2')  # a crash mid-write
    assert len(list(read_lines(tmp_path, T9, T9 + H))) == 1
    assert PartitionWriter(tmp_path).repair() == [path]
    assert path.read_bytes() == complete
    file_events(tmp_path, fixture("link_clicked"))
    assert len(list(read_lines(tmp_path, T9, T9 + H))) == 2
