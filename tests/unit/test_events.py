"""The normaliser on every malformed shape we could think of: each record is a row or a reject, never lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sms_response.events import EventRow, Normaliser, Reject, classify_keyword, count_records
from sms_response.mapping import load_mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window

WINDOW = Window(datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))
MAPPING = load_mapping()


def normaliser() -> Normaliser:
    return Normaliser(MAPPING, WINDOW, WINDOW.id, PhoneNormaliser("US"))


def attrs(**kv: Any) -> list[dict[str, Any]]:
    return [{"name": k, "value": v, "type": "number" if isinstance(v, int) else "string"} for k, v in kv.items()]


def sent(phone: Any = "+12015550123", ts: Any = "2026-11-20T10:15:00+00:00", **over: Any) -> dict[str, Any]:
    a = {"eventId": "e1", "mailingName": "SPRING26_Wave1_20261120090000", "campaignCode": "SPRING26",
         "deliveryStatus": "delivered", "statusCode": 0, "messageParts": 1, "carrierNetwork": "T-Mobile"}
    a.update(over)
    a = {k: v for k, v in a.items() if v is not None}
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}, {"name": "contactId", "value": "C1"}],
            "events": [{"code": "sentSMS", "timestamp": ts, "attributes": attrs(**a)}]}


def interacted(itype: str = "click", phone: str = "+12015550123", **over: Any) -> dict[str, Any]:
    a = {"eventId": "i1", "mailingName": "SPRING26_Wave1_20261120090000", "interactionType": itype}
    a.update(over)
    return {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": phone}],
            "events": [{"code": "interactedSMS", "timestamp": "2026-11-20T10:20:00Z", "attributes": attrs(**a)}]}


def one(envelope: Any) -> EventRow | Reject:
    out = list(normaliser().normalise(envelope, "part-00000.jsonl.gz:0"))
    assert len(out) == count_records(envelope) == 1
    return out[0]


def reject_reason(envelope: Any) -> str:
    item = one(envelope)
    assert isinstance(item, Reject), f"expected a reject, got {item}"
    json.loads(item.raw)  # the quarantined copy is valid JSON
    return item.reason


def test_valid_sent_event_becomes_a_row_with_e164_phone_and_mapped_columns() -> None:
    row = one(sent(phone="(201) 555-0123"))
    assert isinstance(row, EventRow)
    cols = dict(zip(MAPPING.codes["sentSMS"].copy_columns, row.values, strict=True))
    assert cols["phone_e164"] == "+12015550123"
    assert cols["mailing_name"] == "SPRING26_Wave1_20261120090000"
    assert cols["status_code"] == 0 and cols["message_parts"] == 1
    assert cols["contact_id"] == "C1"
    assert cols["sent_at"] == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert cols["is_late"] is False
    assert json.loads(str(cols["attributes"])) == {}


def test_unmapped_attributes_are_kept_in_the_attributes_column() -> None:
    row = one(sent(storeId="S42"))
    assert isinstance(row, EventRow)
    cols = dict(zip(MAPPING.codes["sentSMS"].copy_columns, row.values, strict=True))
    assert json.loads(str(cols["attributes"])) == {"storeId": "S42"}


def test_event_before_the_window_is_late_not_rejected() -> None:
    row = one(sent(ts="2026-11-20T07:59:00+00:00"))
    assert isinstance(row, EventRow) and row.is_late


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ("just a string", "envelope is not a JSON object"),
        ([1, 2], "envelope is not a JSON object"),
        (None, "envelope is not a JSON object"),
        ({"channel": "SMS", "identifiers": []}, "no events list"),
        ({"channel": "SMS", "events": "sentSMS"}, "no events list"),
        ({"channel": "SMS", "events": []}, "empty events list"),
        ({"channel": "SMS", "identifiers": [], "events": ["x"]}, "event is not a JSON object"),
    ],
)
def test_envelope_shapes_that_cannot_be_read_are_rejected(envelope: Any, reason: str) -> None:
    assert reason in reject_reason(envelope)


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("12345", "phone"),
        ("call me", "phone not parseable"),
        ("", "phone is empty"),
        ("   ", "phone is empty"),
        (12015550123, "phone is not a string"),
        (None, "phone is not a string"),
        ("+1 200 000 0000", "not a valid number"),
        ("+" + "9" * 45, "longer than 40"),
        ("+999 1234 5678", "phone"),
    ],
)
def test_bad_phones_are_rejected_with_a_reason(phone: Any, reason: str) -> None:
    assert reason in reject_reason(sent(phone=phone))


def test_missing_phone_identifier_is_rejected() -> None:
    env = sent()
    env["identifiers"] = [{"name": "contactId", "value": "C1"}]
    assert reject_reason(env) == "phoneNumber identifier missing"
    env["identifiers"] = "not a list"
    assert reject_reason(env) == "phoneNumber identifier missing"


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("not-a-date", "not ISO-8601"),
        ("2026-13-45T99:00:00Z", "not ISO-8601"),
        ("2026-11-20T10:15:00", "no time zone"),
        ("", "timestamp missing"),
        (None, "timestamp missing"),
        (1763632800, "timestamp is not an ISO-8601 string (int)"),
        ("1970-01-01T00:00:00Z", "implausibly far"),
        ("2099-01-01T00:00:00Z", "implausibly far"),
    ],
)
def test_bad_timestamps_are_rejected(ts: Any, reason: str) -> None:
    assert reason in reject_reason(sent(ts=ts))


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"eventId": None}, "eventId missing"),
        ({"eventId": "  "}, "eventId missing"),
        ({"eventId": "x" * 201}, "eventId longer"),
        ({"mailingName": None}, "mailingName missing"),
        ({"mailingName": ""}, "mailingName missing"),
        ({"deliveryStatus": "exploded"}, "deliveryStatus 'exploded' is not one of"),
        ({"deliveryStatus": None}, "deliveryStatus missing"),
        ({"statusCode": "abc"}, "statusCode is not an integer"),
        ({"statusCode": "1.5"}, "statusCode is not an integer"),
        ({"statusCode": "99999999999"}, "statusCode is not an integer"),
        ({"messageBody": "nul\x00byte"}, "NUL"),
    ],
)
def test_bad_sent_attributes_are_rejected(over: dict[str, Any], reason: str) -> None:
    assert reason in reject_reason(sent(**over))


def test_attribute_list_shapes_are_checked() -> None:
    env = sent()
    env["events"][0]["attributes"] = {"eventId": "e1"}
    assert "attributes is not a list" in reject_reason(env)
    env["events"][0]["attributes"] = [{"value": "no name"}]
    assert "has no name" in reject_reason(env)
    env["events"][0]["attributes"] = ["scalar"]
    assert "has no name" in reject_reason(env)


def test_unknown_event_code_is_rejected() -> None:
    env = sent()
    env["events"][0]["code"] = "viewedSMS"
    assert "unknown event code 'viewedSMS'" in reject_reason(env)
    del env["events"][0]["code"]
    assert "unknown event code" in reject_reason(env)


def test_invalid_interaction_type_is_rejected() -> None:
    assert "interactionType 'swiped'" in reject_reason(interacted("swiped"))


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop. ", "UNSUBSCRIBE", "opt out", "Quit please", "STOPALL"])
def test_stop_family_reply_is_an_opt_out(text: str) -> None:
    row = one(interacted("reply", messageBody=text))
    assert isinstance(row, EventRow) and row.interaction_type == "opt_out"


def test_start_reply_is_an_opt_in_and_ordinary_reply_stays_a_reply() -> None:
    row = one(interacted("reply", messageBody="unstop"))
    assert isinstance(row, EventRow) and row.interaction_type == "opt_in"
    row = one(interacted("reply", messageBody="Stopping by the store later", keyword="STOPPING"))
    assert isinstance(row, EventRow) and row.interaction_type == "reply"


def test_conversion_value_is_numeric() -> None:
    row = one(interacted("conversion", value="19.90", url="https://x.example/p", linkToken="tok"))
    assert isinstance(row, EventRow)
    cols = dict(zip(MAPPING.codes["interactedSMS"].copy_columns, row.values, strict=True))
    assert cols["conversion_value"] == Decimal("19.90")
    assert "not a number" in reject_reason(interacted("conversion", value="NaN"))


def test_one_bad_event_in_a_multi_event_envelope_rejects_only_that_event() -> None:
    env = sent()
    good = env["events"][0]
    bad = {**good, "timestamp": "garbage"}
    env["events"] = [good, bad, "not an event"]
    out = list(normaliser().normalise(env, "p:3"))
    assert count_records(env) == 3
    assert [type(x).__name__ for x in out] == ["EventRow", "Reject", "Reject"]
    assert [x.position for x in out if isinstance(x, Reject)] == ["p:3:1", "p:3:2"]


def test_classify_keyword() -> None:
    assert classify_keyword("STOP", None) == "opt_out"
    assert classify_keyword(None, "end") == "opt_out"
    assert classify_keyword(None, "start") == "opt_in"
    assert classify_keyword(None, "yes please") is None
    assert classify_keyword(None, None) is None
