"""The platform state: publishing appends to the log, and keyset cursors page it stably."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from simulator_campaigns import H

from sms_simulator import SimulatorConfig, build_state
from sms_simulator.state import PageError


def test_state_publish_appends_originals_duplicates_and_declared_junk() -> None:
    state = build_state(SimulatorConfig(seed=2, recipients=20, mailings=1))
    at = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    envelope = {
        "channel": "SMS",
        "identifiers": [{"name": "phoneNumber", "value": "+12015550123"}],
        "events": [
            {
                "code": "sentSMS",
                "timestamp": "2026-11-21T12:29:00+00:00",
                "attributes": [
                    {"name": "eventId", "value": "batch-1", "type": "string"},
                    {"name": "mailingName", "value": "SPRING26_Batch_20261121122900", "type": "string"},
                    {"name": "deliveryStatus", "value": "delivered", "type": "string"},
                ],
            }
        ],
    }
    state.publish(envelope, at)
    state.publish(envelope, at + timedelta(minutes=5))
    state.publish({"channel": "SMS"}, at, malformed_kind="events_missing")
    with pytest.raises(ValueError):
        state.publish({"channel": "SMS"}, at)
    window = (at.replace(minute=0), at.replace(minute=0) + H)
    data, cursor = state.page(*window, limit=10)
    assert cursor is None and data[0] == envelope and data[1] == {"channel": "SMS"} and data[2] == envelope
    t = state.truth(*window)
    assert (t["records"], t["valid_events"], t["duplicates"], t["malformed"]) == (3, 1, 1, 1)
    assert t["malformed_by_kind"]["events_missing"] == 1
    assert state.page(*window, codes=["sentSMS"])[0] == [envelope, envelope]


def test_keyset_cursor_is_stable_and_rejects_foreign_windows() -> None:
    state = build_state(SimulatorConfig(seed=4, recipients=80, mailings=1))
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    first, cursor = state.page_json(start, start + H, limit=25)
    assert cursor is not None
    second, _ = state.page_json(start, start + H, cursor=cursor, limit=25)
    # Publishing into the already-read part of the window must not shift the next page.
    state.publish(json.loads(first[0]), start + timedelta(seconds=1))
    assert state.page_json(start, start + H, cursor=cursor, limit=25)[0] == second
    for bad in ("not-base64!", cursor[:-3], "eyJ2IjoxfQ"):
        with pytest.raises(PageError):
            state.page_json(start, start + H, cursor=bad)
    with pytest.raises(PageError):
        state.page_json(start, start + 2 * H, cursor=cursor, limit=25)
    with pytest.raises(PageError):
        state.page_json(start, start + H, cursor=cursor, limit=25, codes=["sentSMS"])
    with pytest.raises(PageError):
        state.page_json(start + H, start)
    with pytest.raises(PageError):
        state.page_json(start, start + H, limit=5001)
