"""The UBX adapter on event files written from Acoustic's published schema (tests/fixtures/ubx), through the
real importer normaliser: published attributes reach the right columns, both spellings give the same rows,
what the mapping cannot read is quarantined one record each, and the ledger keeps first sightings."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sms_response.adapters.ubx import wanted
from sms_response.adapters.ubx_convert import (
    Converter,
    UbxFileError,
    load_ubx_mapping,
    parse_event_file,
    parse_ubx_mapping,
)
from sms_response.adapters.ubx_ledger import Ledger
from sms_response.adapters.ubx_options import UbxOptions
from sms_response.errors import ConfigError
from sms_response.events import EventRow, Normaliser, Reject, count_records
from sms_response.mapping import load_mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ubx"
WINDOW = Window(datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))
MAILING = "SPRING26_Wave1_Offer_20261120090000"
SENT_COLUMNS = ("mailing_name", "campaign_code", "program_id", "program", "delivery_status", "status_code",
                "message_parts", "carrier", "message_body")


def converter(**extra: Any) -> Converter:
    options = UbxOptions.from_extra(extra)
    return Converter(load_ubx_mapping(options), options)


def fixture(name: str) -> list[Any]:
    return parse_event_file((FIXTURES / name).read_bytes())


def normalise(envelopes: list[Any]) -> tuple[list[EventRow], list[Reject]]:
    norm = Normaliser(load_mapping(), WINDOW, WINDOW.id, PhoneNormaliser("US"))
    out = [r for i, env in enumerate(envelopes) for r in norm.normalise(env, f"f:{i}")]
    return [r for r in out if isinstance(r, EventRow)], [r for r in out if isinstance(r, Reject)]


def columns(row: EventRow, names: tuple[str, ...]) -> dict[str, Any]:
    cmap = load_mapping().for_code(row.code)
    assert cmap is not None
    return dict(zip(cmap.copy_columns, row.values, strict=True)) | {"_names": names}


def test_published_sent_sms_attributes_fill_the_response_columns() -> None:
    envelopes = [converter().envelope(n) for n in fixture("sent_and_interacted.json")]
    rows, rejects = normalise(envelopes)
    assert rejects == []
    sent = {r.event_id: columns(r, SENT_COLUMNS) for r in rows if r.code == "sentSMS"}
    first, second = sent["ev-sent-0001"], sent["ev-sent-0002"]
    assert {k: first[k] for k in SENT_COLUMNS} == {
        "mailing_name": MAILING, "campaign_code": "SPRING26", "program_id": "P1", "program": "Program 1",
        "delivery_status": "delivered", "status_code": 0, "message_parts": 1, "carrier": "Verizon Wireless",
        "message_body": "ShopCo: 25% off everything today only! Shop now: https://sms.shop.example/a1 "
                        "Reply STOP to opt out"}
    # smsProgramId / smsProgramName are read as programId / programName; an emoji body is UCS-2: 143 units, 3 parts.
    assert (second["program_id"], second["program"], second["delivery_status"], second["status_code"],
            second["message_parts"], second["phone_e164"]) == ("P1", "Program 1", "failed", 30006, 3, "+14155550199")
    # What no column holds stays in the row's attributes, under one spelling whichever arrived.
    extras = [json.loads(s["attributes"]) for s in (first, second)]
    assert all(e["programType"] == "Type 1" and e["Source"] == "Unica Campaign" and e["Tags"] == "holiday"
               for e in extras)
    assert not any({"smsProgramId", "smsProgramType", "source", "tags", "campaignName"} & e.keys() for e in extras)
    assert first["contact_id"] == "C-1001"


def test_published_interactions_become_replies_opt_outs_and_clicks() -> None:
    rows, rejects = normalise([converter().envelope(n) for n in fixture("sent_and_interacted.json")])
    assert rejects == []
    by_id = {r.event_id: r for r in rows if r.code == "interactedSMS"}
    assert by_id["ev-int-0001"].interaction_type == "opt_out"  # a "Reply" whose body is a STOP wording
    assert by_id["ev-int-0002"].interaction_type == "click"  # messageType "Clicked Link"
    click = columns(by_id["ev-int-0002"], ())
    assert (click["mailing_name"], click["url"], click["link_token"]) == (MAILING, "https://shop.example/wave1", "a1")


def test_both_spellings_of_the_program_fields_give_the_same_envelope() -> None:
    def notification(names: tuple[str, str, str], phone_name: str) -> dict[str, Any]:
        values = ("PRG-1", "Holiday", "Broadcast")
        return {"channel": "SMS", "identifiers": [{"name": phone_name, "value": "+12125550147"}],
                "event": {"code": "sentSMS", "timestamp": "2026-11-20T09:00:00Z", "attributes": [
                    {"name": "eventId", "value": "e1", "type": "string"},
                    {"name": "campaignName", "value": MAILING, "type": "string"},
                    *({"name": n, "value": v, "type": "string"} for n, v in zip(names, values, strict=True)),
                    {"name": "deliveryStatus", "value": "Delivered", "type": "string"}]}}

    conv = converter()
    published = conv.envelope(notification(("programId", "programName", "programType"), "mobileNumber"))
    behaviours = conv.envelope(notification(("smsProgramId", "smsProgramName", "smsProgramType"), "phoneNumber"))
    assert published == behaviours
    names = [a["name"] for a in published["events"][0]["attributes"]]
    assert names == ["eventId", "mailingName", "programId", "programName", "programType", "deliveryStatus",
                     "campaignCode"]
    assert published["identifiers"] == [{"name": "phoneNumber", "value": "+12125550147"}]


def test_what_the_mapping_cannot_read_is_quarantined_one_record_each() -> None:
    notifications = fixture("compound_and_broken.jsonl")
    envelopes = [converter().envelope(n) for n in notifications]
    assert sum(count_records(e) for e in envelopes) == 7
    rows, rejects = normalise(envelopes)
    assert sorted(r.event_id for r in rows) == ["ev-int-0101", "ev-int-0102"]
    assert [r.interaction_type for r in sorted(rows, key=lambda r: r.event_id)] == ["click", "conversion"]
    assert sorted(r.reason.split(" ")[0] for r in rejects) == ["attributes", "envelope", "envelope",
                                                               "interactionType", "mailingName"]


def test_the_mailing_name_and_campaign_code_attributes_are_configurable() -> None:
    n = {"channel": "SMS", "identifiers": [{"name": "mobileNumber", "value": "+12125550147"}],
         "event": {"code": "sentSMS", "timestamp": "2026-11-20T09:00:00Z", "attributes": [
             {"name": "eventId", "value": "e1", "type": "string"},
             {"name": "campaignName", "value": "Holiday blast", "type": "string"},
             {"name": "Tags", "value": "SPRING_26_Wave1_20261120", "type": "string"},
             {"name": "Source", "value": "SPRING_26", "type": "string"}]}}

    def attrs(env: Any) -> dict[str, Any]:
        return {a["name"]: a["value"] for a in env["events"][0]["attributes"]}

    default = attrs(converter().envelope(n))
    assert (default["mailingName"], "campaignCode" in default) == ("Holiday blast", False)  # no "_" in the name
    tagged = attrs(converter(ubx_mailing_attribute="Tags").envelope(n))
    assert (tagged["mailingName"], tagged["campaignCode"], tagged["campaignName"]) == (
        "SPRING_26_Wave1_20261120", "SPRING", "Holiday blast")
    coded = attrs(converter(ubx_mailing_attribute="Tags", ubx_campaign_code_attribute="Source").envelope(n))
    assert coded["campaignCode"] == "SPRING_26" and "Source" not in coded
    patterned = attrs(converter(ubx_mailing_attribute="Tags", ubx_campaign_code_pattern=r"^(.+)_Wave").envelope(n))
    assert patterned["campaignCode"] == "SPRING_26"


@pytest.mark.parametrize(("extra", "message"), [
    ({"ubx_paging": "pages"}, "ubx_paging"),
    ({"ubx_pagesize": 10}, "unknown extras"),
    ({"ubx_file_path": "/v1/eventfiles"}, "{fileName}"),
    ({"ubx_campaign_code_pattern": "^[^_]+"}, "group"),
    ({"ubx_page_size": "many"}, "ubx_page_size"),
    ({"ubx_mailing_attribute": 3}, "string"),
])
def test_a_bad_extra_is_refused_with_its_name(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        UbxOptions.from_extra(extra)


def test_defaults_follow_the_toolkits_flow() -> None:
    o = UbxOptions.from_extra({"platform": "ubx", "short_link_base": "https://s.example"}, login="Response endpoint")
    assert (o.list_path, o.file_path, o.paging, o.mailing_attribute, o.endpoint) == (
        "/v1/eventfiles", "/v1/eventfiles/{fileName}", "cursor", "campaignName", "Response_endpoint")


def test_a_bad_mapping_file_is_refused_with_its_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="events.sentSMS.attributes.programId"):
        parse_ubx_mapping({"events": {"sentSMS": {"attributes": {"programId": "smsProgramId"}}}}, "m.yaml")
    with pytest.raises(ConfigError, match="ubx_mailing_attribute"):
        parse_ubx_mapping({"events": {"sentSMS": {"attributes": {"mailingName": ["x"]}}}}, "m.yaml")
    path = tmp_path / "m.yaml"
    path.write_text("events: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_ubx_mapping(UbxOptions.from_extra({"ubx_mapping_file": str(path)}))


def test_event_files_are_read_as_arrays_objects_or_lines_gzip_or_not() -> None:
    note = {"identifiers": [], "event": {"code": "sentSMS"}}
    assert parse_event_file(json.dumps([note, note]).encode()) == [note, note]
    assert parse_event_file(json.dumps({"events": [note]}).encode()) == [note]
    assert parse_event_file(json.dumps(note).encode()) == [note]
    assert parse_event_file(gzip.compress(b"\n".join([json.dumps(note).encode()] * 3))) == [note] * 3
    for junk in (b'[{"identifiers": [', b"\xff\xfe", gzip.compress(b"[]")[:-4]):
        with pytest.raises(UbxFileError):
            parse_event_file(junk)


def test_a_narrowed_window_takes_only_its_codes_and_mailings() -> None:
    envs = [converter().envelope(n) for n in fixture("sent_and_interacted.json")]
    assert [wanted(e, ["interactedSMS"], []) for e in envs] == [False, False, True, True]
    assert all(wanted(e, [], [MAILING]) for e in envs)
    assert not any(wanted(e, [], ["OTHER"]) for e in envs)
    assert not wanted("not an object", ["sentSMS"], [])


def test_the_ledger_keeps_a_files_first_sighting_and_its_bytes(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger")
    t = datetime(2026, 11, 20, 9, 4, 59, 999000, tzinfo=UTC)
    first = ledger.register("f-1.json", t, 120)
    again = Ledger(tmp_path / "ledger").register("f-1.json", t + timedelta(hours=1), 120)  # re-listed later
    assert again == first
    ledger.register("f-0.json", t, None)
    ledger.register("f-2.json", t + timedelta(hours=1), 10)
    assert [e.name for e in ledger.entries_between(t - timedelta(minutes=5), t + timedelta(minutes=1))] == [
        "f-0.json", "f-1.json"]
    assert [e.name for e in ledger.entries_between(t + timedelta(minutes=1), t + timedelta(hours=2))] == ["f-2.json"]
    assert ledger.cached("f-1.json") is None
    ledger.keep("f-1.json", b"[1, 2]")
    assert ledger.cached("f-1.json") == b"[1, 2]"
    blob = next((tmp_path / "ledger" / "blobs").iterdir())
    blob.write_bytes(blob.read_bytes()[:-3])  # a damaged copy is not served
    assert ledger.cached("f-1.json") is None
