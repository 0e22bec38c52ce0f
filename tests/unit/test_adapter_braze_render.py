"""The simulator's Braze rendering: the model's published facts as Currents records, and its truth."""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime

import fastavro

from sms_simulator import SimulatorConfig, braze, build_state
from sms_simulator.braze_render import RECORD_ROLES, REPLY_CONTEXT_S
from sms_simulator.braze_schemas import EVENT_TYPES, schema_json

CFG = SimulatorConfig(seed=5, recipients=120, mailings=2, duplicate_rate=0.05, malformed_rate=0.05, late_rate=0.1,
                      campaign_start=datetime.fromisoformat("2026-11-20T09:00:00+00:00"))


def test_every_message_is_a_send_and_one_outcome_and_every_record_is_written_once() -> None:
    state = build_state(CFG)
    export = braze.export(state)
    facts = state.published_facts()
    sends = [f for f in facts if f.event.code == "sentSMS"]
    written = Counter(w.event_type for w in export.written if w.role in ("original", "send"))
    assert written["Send"] == len(sends)
    assert written["Delivery"] + written["Rejection"] + written["DeliveryFailure"] == len(sends)
    conversions = sum(f.event.interaction == "conversion" for f in facts)
    assert written["ShortLinkClick"] + written["InboundReceive"] == len(facts) - len(sends) - conversions
    for w in export.written:
        if w.event_type == "Send":
            assert w.hour_us <= w.record["time"] * 1_000_000 < w.hour_us + 3_600_000_000
    roles = Counter(w.role for w in export.written)
    assert roles["bot"] > 0 and roles["duplicate"] > 0 and roles["redelivered"] > 0 and roles["malformed"] > 0
    assert all(w.record["is_suspected_bot_click"] is True for w in export.written if w.role == "bot")
    assert all(w.expected is None for w in export.written if w.role not in ("original", "bot"))
    total = export.window_truth(datetime.fromisoformat("2026-11-01T00:00:00+00:00"),
                                datetime.fromisoformat("2026-12-01T00:00:00+00:00"))
    assert total["records"] == sum(roles[r] for r in RECORD_ROLES)


def test_replies_carry_their_campaign_only_within_four_hours_of_the_last_message() -> None:
    export = braze.export(build_state(CFG))
    for w in export.written:
        if w.event_type != "InboundReceive" or w.role != "original":
            continue
        last = export.world.last_send(w.record["user_phone_number"], w.record["time"])
        assert last is not None and w.expected is not None and w.expected["mailing"] == last[1]
        within = w.record["time"] - last[0] <= REPLY_CONTEXT_S
        assert (w.record["canvas_step_name"] == last[1]) if within else w.record["canvas_step_name"] is None


def test_files_are_avro_with_the_published_fields_in_currents_layout() -> None:
    export = braze.export(build_state(CFG))
    files = export.files()
    assert {t for t, _ in files.values()} <= set(EVENT_TYPES)
    key, (event_type, records) = next(iter(sorted(files.items())))
    assert key.startswith("currents/dataexport.prod-01.S3.integration.") and "/event_type=users.messages.sms." in key
    reader = fastavro.reader(io.BytesIO(braze.avro_bytes(event_type, records)))
    assert reader.writer_schema is not None
    assert {f["name"] for f in reader.writer_schema["fields"]} == {f["name"] for f in schema_json(event_type)["fields"]}
    assert list(reader) == records
    click = schema_json("ShortLinkClick")
    assert {"url", "short_url", "is_suspected_bot_click"} <= {f["name"] for f in click["fields"]}
