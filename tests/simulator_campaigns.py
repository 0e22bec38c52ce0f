"""Shared by the simulator's unit tests: the campaigns they build and an independent reading of their envelopes.

Envelopes are read here, independently of the simulator (``simulator_records.classify`` judges the
malformed ones), so the model cannot agree with itself by construction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from sms_simulator import SimulatorConfig
from sms_simulator.records import Campaign
from sms_simulator.vocabulary import STOP_KEYWORDS

H = timedelta(hours=1)
MESSY = SimulatorConfig(
    seed=11,
    recipients=300,
    mailings=3,
    duplicate_rate=0.05,
    malformed_rate=0.2,
    late_rate=0.1,
    multi_event_rate=0.3,
)
# Enough opt-outs in 300 recipients to see every opt-out path, including the rare ones.
OPT_HEAVY = SimulatorConfig(
    seed=3, recipients=300, mailings=4, opt_out_rate=0.25, opt_in_rate=0.5, click_after_opt_out_rate=0.5
)
HARD = {30005, 30006}


def flat_events(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid envelope -> one dict per event with phone (E.164), code, time and attributes."""
    phone = next(i["value"] for i in envelope["identifiers"] if i["name"] == "phoneNumber")
    e164 = phonenumbers.format_number(phonenumbers.parse(phone, "US"), phonenumbers.PhoneNumberFormat.E164)
    out = []
    for event in envelope["events"]:
        attrs = {a["name"]: a["value"] for a in event["attributes"]}
        out.append({"phone": e164, "code": event["code"], "at": datetime.fromisoformat(event["timestamp"]), **attrs})
    return out


def is_opt_out(e: dict[str, Any]) -> bool:
    it = e.get("interactionType")
    return it == "opt_out" or (it == "reply" and e.get("keyword") in STOP_KEYWORDS)


def originals(c: Campaign) -> list[dict[str, Any]]:
    return [e for r in c.records if r.status == "original" for e in flat_events(c.render(r))]


def hourly_windows(c: Campaign) -> list[tuple[datetime, datetime]]:
    first = datetime.fromtimestamp(c.published_us[0] / 1e6, UTC).replace(minute=0, second=0, microsecond=0)
    last = datetime.fromtimestamp(c.published_us[-1] / 1e6, UTC)
    n = int((last - first) / H) + 1
    return [(first + i * H, first + (i + 1) * H) for i in range(n)]
