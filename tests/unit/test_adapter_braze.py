"""The braze adapter's pieces without object storage: connection extras, partition hours, the conversion of
Currents records (written from the published schemas) into canonical envelopes the importer accepts, and the
source over fsspec's in-memory filesystem."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec
import pytest

from sms_response.adapters import PlatformConnection, event_source
from sms_response.adapters.braze import BrazeConfig, BrazeCurrentsSource
from sms_response.adapters.braze_events import Converter, Naming, SendIndex, keyword, link_token
from sms_response.adapters.braze_files import partition_hours
from sms_response.errors import ConfigError, WindowError
from sms_response.events import Normaliser, Reject
from sms_response.mapping import load_mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window
from sms_simulator.braze import avro_bytes
from sms_simulator.braze_schemas import blank

T = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp())
W = Window(datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))
STEP = {"canvas_name": "SPRING26", "canvas_step_name": "SPRING26_Offer_20261120"}


def rec(event_type: str, **fields: Any) -> dict[str, Any]:
    return {**blank(event_type), "user_id": "u1", **fields}


def attrs(envelope: dict[str, Any]) -> dict[str, Any]:
    return {a["name"]: a["value"] for a in envelope["events"][0]["attributes"]}


def normalise(envelope: dict[str, Any]) -> Any:
    [row] = Normaliser(load_mapping(), W, "load", PhoneNormaliser("US")).normalise(envelope, "p:0")
    return row


def test_extras_are_validated_once_with_actionable_messages() -> None:
    with pytest.raises(ConfigError, match="'bucket'"):
        BrazeConfig.from_extra({"platform": "braze"})
    with pytest.raises(ConfigError, match="lookback_hours"):
        BrazeConfig.from_extra({"bucket": "b", "lookback_hours": "soon"})
    with pytest.raises(ConfigError, match="mailing_name_fields"):
        BrazeConfig.from_extra({"bucket": "b", "mailing_name_fields": [3]})
    c = BrazeConfig.from_extra({"bucket": "s3-bucket/", "prefix": "/a/b/", "mailing_name_fields": "campaign_name",
                                "endpoint_url": "http://127.0.0.1:9000"})
    assert (c.root, c.naming.mailing_name_fields, c.lookback_hours) == ("s3-bucket/a/b", ("campaign_name",), 72)
    assert c.label == "s3://s3-bucket/a/b (http://127.0.0.1:9000)"


def test_the_connection_extra_platform_chooses_this_adapter_and_the_label_carries_no_secret() -> None:
    source = event_source(PlatformConnection("braze", "https://x", "AKIAKEY", "secret-key",
                                             {"platform": "braze", "bucket": "currents", "region": "eu-west-1"}))
    assert isinstance(source, BrazeCurrentsSource)
    assert source.base_url == "s3://currents" and "secret" not in repr(source)
    source.close()


def test_windows_must_span_whole_hours() -> None:
    assert len(partition_hours(Window(W.start, W.start + timedelta(hours=3)))) == 3
    with pytest.raises(WindowError, match="whole hour"):
        partition_hours(Window(W.start + timedelta(minutes=30), W.end))


def test_an_outcome_is_the_message_at_its_send_time_and_its_status() -> None:
    sends = SendIndex(Naming())
    sends.add(rec("Send", id="s1", time=T - 120, to_phone_number="+12015550101", dispatch_id="d1", **STEP))
    sends.add(rec("Send", id="s1", time=T - 120, to_phone_number="+12015550101", dispatch_id="d1", **STEP))  # again
    sends.add(rec("Send", id="s0", time=T - 7200, to_phone_number="+12015550101", dispatch_id="d0", **STEP))
    conv = Converter(Naming(), sends)
    env = conv.envelope("Delivery", rec("Delivery", id="o1", time=T + 3, to_phone_number="+12015550101",
                                        dispatch_id="d1", **STEP))
    assert env is not None and len(sends) == 2
    a = attrs(env)
    assert env["events"][0]["timestamp"] == "2026-11-20T09:58:00+00:00"
    assert (a["eventId"], a["deliveryStatus"], a["brazeSendEventId"], a["campaignCode"]) == (
        "o1", "delivered", "s1", "SPRING26")
    row = normalise(env)
    assert row.is_late and row.event_id == "o1"
    rejected = conv.envelope("Rejection", rec("Rejection", id="o2", time=T, to_phone_number="+12015550102",
                                              provider_error_code="30005", **STEP))
    failed = conv.envelope("DeliveryFailure", rec("DeliveryFailure", id="o3", time=T, to_phone_number="+12015550103",
                                                  provider_error_code="ERR_X", **STEP))
    assert rejected is not None and failed is not None
    assert (attrs(rejected)["deliveryStatus"], attrs(rejected)["statusCode"]) == ("failed", "30005")
    assert attrs(failed)["deliveryStatus"] == "undelivered" and "statusCode" not in attrs(failed)
    assert attrs(failed)["providerErrorCode"] == "ERR_X" and conv.outcomes_without_send == 2


def test_inbound_messages_are_replies_opt_outs_and_opt_ins_attributed_to_the_last_message() -> None:
    sends = SendIndex(Naming())
    sends.add(rec("Send", id="s1", time=T - 6 * 3600, to_phone_number="+12015550101", **STEP))
    conv = Converter(Naming(), sends)

    def inbound(action: str, body: str, **kw: Any) -> dict[str, Any]:
        env = conv.envelope("InboundReceive", rec("InboundReceive", id=str(uuid.uuid4()), time=T, action=action,
                                                  app_group_id="a", inbound_phone_number="+18885550100",
                                                  message_body=body, user_phone_number="+12015550101", **kw))
        assert env is not None
        return attrs(env)

    assert inbound("Unsubscribed", "opt out", **STEP)["interactionType"] == "opt_out"
    assert inbound("Unsubscribed", "opt out", **STEP)["keyword"] == "OPT OUT"
    assert inbound("Subscribed", "START", **STEP)["interactionType"] == "opt_in"
    reply = inbound("None", "Yes please!")  # no campaign: more than four hours after the message
    assert (reply["interactionType"], reply["keyword"], reply["mailingName"]) == ("reply", "YES", STEP["canvas_step_name"])
    assert reply["attributedToSendEventId"] == "s1" and conv.replies_attributed == 1
    assert keyword("  stop. ", "opt_out") == "STOP" and keyword("", "reply") is None


def test_a_click_carries_its_link_token_and_bot_flag_into_the_canonical_row() -> None:
    conv = Converter(Naming(), SendIndex(Naming()))
    env = conv.envelope("ShortLinkClick", rec("ShortLinkClick", id="c1", time=T, url="https://shop.example/offer",
                                              short_url="https://brz.ai/Ab3dE/", user_phone_number="+12015550101",
                                              is_suspected_bot_click=True, suspected_bot_click_reason=["user_agent"],
                                              **STEP))
    assert env is not None and attrs(env)["linkToken"] == "Ab3dE"
    row = normalise(env)
    columns = load_mapping().for_code("interactedSMS")
    assert columns is not None
    values = dict(zip(columns.copy_columns, row.values, strict=True))
    assert (values["interaction_type"], values["link_token"], values["suspected_bot_click"]) == ("click", "Ab3dE", True)
    assert link_token(None) is None and link_token("https://brz.ai/") is None


def test_nullable_fields_null_and_a_missing_phone_is_quarantined_by_the_importer() -> None:
    conv = Converter(Naming(), SendIndex(Naming()))
    env = conv.envelope("ShortLinkClick", rec("ShortLinkClick", id="c2", time=T, url="u", short_url="s", **STEP))
    assert env is not None and env["identifiers"] == [] and "suspectedBotClick" not in attrs(env)
    [reject] = Normaliser(load_mapping(), W, "load", PhoneNormaliser("US")).normalise(env, "p:0")
    assert isinstance(reject, Reject) and reject.reason == "phoneNumber identifier missing"
    no_step = conv.envelope("ShortLinkClick", rec("ShortLinkClick", id="c3", time=T, url="u", short_url="s",
                                                  user_phone_number="+12015550101"))
    assert no_step is not None and "mailingName" not in attrs(no_step)
    assert conv.envelope("Abort", rec("Abort", id="a1", time=T)) is None


def test_the_source_reads_the_hours_of_the_window_and_the_sends_of_its_look_back() -> None:
    fs = fsspec.filesystem("memory")
    root = "/currents-unit/p"
    export = f"{root}/dataexport.prod-01.S3.integration.abc"

    def put(event_type: str, hour: str, offset: int, *records: dict[str, Any]) -> None:
        path = f"{export}/event_type=users.messages.sms.{event_type}/date={hour}/1/z/f+0+{offset}.avro"
        fs.pipe(path, avro_bytes(event_type, list(records)))

    put("Send", "2026-11-20-08", 1, rec("Send", id="s1", time=T - 5000, to_phone_number="+12015550101", **STEP))
    put("Delivery", "2026-11-20-10", 2, rec("Delivery", id="o1", time=T + 5, to_phone_number="+12015550101", **STEP))
    put("Delivery", "2026-11-20-10", 3, rec("Delivery", id="o1", time=T + 5, to_phone_number="+12015550101", **STEP))
    put("Delivery", "2026-11-20-11", 4, rec("Delivery", id="o2", time=T + 3605, to_phone_number="+12015550102",
                                            **STEP))
    source = BrazeCurrentsSource(fs, BrazeConfig.from_extra({"bucket": "currents-unit", "prefix": "p"}))
    envelopes = [e for page in source.pages(W) for e in page.envelopes]
    assert [attrs(e)["eventId"] for e in envelopes] == ["o1", "o1"]  # re-delivered: the importer de-duplicates
    assert envelopes[0]["events"][0]["timestamp"] == datetime.fromtimestamp(T - 5000, UTC).isoformat()
    fs.rm(root, recursive=True)
