"""The platform's published facts as Twilio Event Streams CloudEvents (what Twilio would push to a sink).

Every fact becomes the events Twilio publishes for it, in the shapes of its published schemas:

* a message (``sentSMS`` fact) → ``com.twilio.messaging.message.queued`` at the send, then ``sent`` and
  ``delivered`` / ``undelivered`` (carrier receipt, some of them an hour late, so a message's statuses can
  straddle windows) or ``failed`` (``Messaging.MessageStatus``: ``messageSid, timestamp, from, to,
  messageStatus, errorCode, numberOfSegments, tags, rawDlrDoneDate…``);
* a reply, opt-out or opt-in → ``com.twilio.messaging.inbound-message.received`` (``optOutType`` STOP /
  START on STOP- and START-family keywords);
* a click → ``com.twilio.daptbt.link-shortening.link-clicked`` (``message_sid, to, link, shortened_link,
  click_time``).

Tapped actions and conversions have no Twilio event, so they are not rendered (``not_rendered``). Each
mailing is sent through its own messaging service (``service_sid``), from its own number: its replies and
clicks name that service, which is how the adapter attributes them. Quirks, seeded per fact: ``errorCode``
as a string in some payloads, ``rawDlrDoneDate`` as the carrier's ``YYMMDDhhmm`` without a time zone, some
events without the CloudEvent ``time`` (as in Twilio's own examples), re-deliveries (at-least-once), and a
few unusable extras (a message to an unparseable number, a click of an unknown service) that a correct
pipeline quarantines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from random import Random
from typing import Any

from .clock import US_PER_MS, from_us, iso
from .records import Fact
from .vocabulary import INTERACTED, SENT, opt_event_kind

ACCOUNT_SID = "AC" + hashlib.sha256(b"simulated twilio account").hexdigest()[:32]
SHORT_LINK_BASE = "https://twl.shop.example/"
STATUS_SCHEMA = "https://events-schemas.twilio.com/Messaging.MessageStatus/7"
INBOUND_SCHEMA = "https://events-schemas.twilio.com/Messaging.InboundMessageV1/6"
CLICK_SCHEMA = "https://events-schemas.twilio.com/DapTbt.LinkClicked/3"
STATUS_TYPE = "com.twilio.messaging.message."
INBOUND_TYPE = "com.twilio.messaging.inbound-message.received"
CLICK_TYPE = "com.twilio.daptbt.link-shortening.link-clicked"
RENDERED_KINDS = frozenset({"click", "reply", "opt_out", "opt_in"})
UNPARSEABLE_TO = "12345"


@dataclass(frozen=True)
class TwilioQuirks:
    seed: int = 5
    duplicate_rate: float = 0.05  # of events, delivered twice
    string_error_code_share: float = 0.5  # of errorCodes sent as strings
    missing_time_share: float = 0.1  # of events without the CloudEvent time attribute
    slow_receipt_share: float = 0.1  # of carrier receipts 20-90 minutes after the send
    bogus_rate: float = 0.01  # per message: an unusable extra (unparseable number / unknown service)


def sid(prefix: str, *parts: object) -> str:
    return prefix + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def service_sid(mailing: str) -> str:
    """The messaging service a mailing is sent through (its replies and clicks name it)."""
    return sid("MG", "service", mailing)


def sender_number(mailing: str) -> str:
    return "+1555" + str(int(hashlib.sha256(mailing.encode()).hexdigest(), 16) % 10_000_000).zfill(7)


def _ms(rng: Random, low_s: float, high_s: float) -> int:
    return round(rng.uniform(low_s, high_s) * 1000) * US_PER_MS


def raw_dlr_done_date(at_us: int, phone: str) -> str:
    """The carrier's done date, YYMMDDhhmm in the carrier's own clock (US carriers: UTC-5), no time zone."""
    offset = timedelta(hours=-5) if phone.startswith("+1") else timedelta(0)
    return (from_us(at_us).astimezone(UTC) + offset).strftime("%y%m%d%H%M")


@dataclass(frozen=True)
class PlannedMessage:
    """A rendered message, for the truth: its statuses, the terminal one, and the fact (None: an unusable extra)."""

    sid: str
    fact: Fact | None
    phone: str
    mailing: str
    queued_us: int
    terminal_us: int
    terminal_id: str  # CloudEvent id of its terminal status


@dataclass(frozen=True)
class PlannedInteraction:
    ce_id: str
    fact: Fact | None  # None: an unusable extra
    at_us: int


@dataclass
class TwilioRendering:
    """Every CloudEvent rendered, how often each is delivered, and what it stands for."""

    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)  # CloudEvent id -> 1 or 2
    messages: list[PlannedMessage] = field(default_factory=list)
    interactions: list[PlannedInteraction] = field(default_factory=list)
    not_rendered: list[Fact] = field(default_factory=list)
    rendered_facts: list[Fact] = field(default_factory=list)


class TwilioRenderer:
    def __init__(self, quirks: TwilioQuirks | None = None) -> None:
        self.quirks = quirks or TwilioQuirks()
        self.sends: dict[tuple[str, str], tuple[str, int]] = {}  # (phone, mailing) -> (messageSid, send time)

    def _rng(self, *parts: object) -> Random:
        return Random("|".join(map(str, (self.quirks.seed, *parts))))

    def _cloud_event(self, out: TwilioRendering, rng: Random, event_type: str, ce_id: str, at_us: int,
                     schema: str, data: dict[str, Any]) -> None:
        event: dict[str, Any] = {"specversion": "1.0", "type": event_type, "source": f"/{ACCOUNT_SID}",
                                 "id": ce_id, "dataschema": schema, "datacontenttype": "application/json",
                                 "time": iso(at_us).replace("+00:00", "Z"), "data": data}
        if rng.random() < self.quirks.missing_time_share:
            del event["time"]
        out.events.append(event)
        out.deliveries[ce_id] = 2 if rng.random() < self.quirks.duplicate_rate else 1

    def render(self, facts: Iterable[Fact]) -> TwilioRendering:
        out = TwilioRendering()
        facts = list(facts)
        for f in facts:  # sends first: clicks name their message
            if f.event.code == SENT:
                self._message(out, f)
        for f in facts:
            if f.event.code == INTERACTED:
                kind = opt_event_kind(f.event.code, f.event.interaction, f.event.keyword) or f.event.interaction
                if kind in RENDERED_KINDS:
                    self._interaction(out, f, kind or "")
                else:
                    out.not_rendered.append(f)
        return out

    def _message(self, out: TwilioRendering, f: Fact, bogus: bool = False) -> None:
        e, q = f.event, self.quirks
        rng = self._rng("message", e.event_id, bogus)
        message_sid = sid("SM", e.event_id, "bogus" if bogus else "")
        phone = UNPARSEABLE_TO if bogus else f.phone
        t0 = e.at_us + (_ms(rng, 1, 30) if bogus else 0)
        if not bogus:
            self.sends[(f.phone, e.mailing)] = (message_sid, e.at_us)
        status = e.delivery_status or "delivered"
        receipt = _ms(rng, 1200, 5400) if rng.random() < q.slow_receipt_share else _ms(rng, 2, 60)
        steps: list[tuple[str, int]] = [("queued", t0)]
        if status == "failed":
            steps.append(("failed", t0 + _ms(rng, 0.5, 3)))
        else:
            steps += [("sent", t0 + _ms(rng, 0.2, 1.5)), (status, t0 + receipt)]
        tags = {"mailingName": e.mailing, **({"campaignCode": f.campaign_code} if f.campaign_code else {})}
        terminal_id = ""
        for name, at in steps:
            data: dict[str, Any] = {
                "messageSid": message_sid, "timestamp": iso(at).replace("+00:00", "Z"), "accountSid": ACCOUNT_SID,
                "eventName": STATUS_TYPE + name, "apiVersion": "2010-04-01", "from": sender_number(e.mailing),
                "to": phone, "messageStatus": name.upper(), "messagingServiceSid": service_sid(e.mailing),
                "body": f.body or "", "numberOfSegments": f.parts, "tags": tags, "mcc": "310", "mnc": "260",
                "dateUpdated": iso(at).replace("+00:00", "Z"),
            }
            if name in ("failed", "undelivered"):
                data["errorCode"] = str(e.status_code) if rng.random() < q.string_error_code_share else e.status_code
            if name in ("delivered", "undelivered"):
                data["rawDlrDoneDate"] = raw_dlr_done_date(at, f.phone)
            ce_id = sid("EZ", message_sid, name)
            self._cloud_event(out, rng, STATUS_TYPE + name, ce_id, at, STATUS_SCHEMA, data)
            terminal_id = ce_id
        if bogus:
            out.deliveries[terminal_id] = 1  # an unusable extra is quarantined once
        out.messages.append(PlannedMessage(message_sid, None if bogus else f, phone, e.mailing, t0, steps[-1][1],
                                           terminal_id))
        if not bogus:
            out.rendered_facts.append(f)
            if rng.random() < q.bogus_rate:
                self._message(out, f, bogus=True)

    def _interaction(self, out: TwilioRendering, f: Fact, kind: str) -> None:
        e = f.event
        rng = self._rng("interaction", e.event_id)
        at = iso(e.at_us).replace("+00:00", "Z")
        ce_id = sid("EZ", e.event_id)
        if kind == "click":
            message_sid, sent_us = self.sends.get((f.phone, e.mailing), (sid("SM", "unknown", e.event_id), e.at_us))
            data: dict[str, Any] = {
                "message_sid": message_sid, "account_sid": ACCOUNT_SID, "messaging_service_sid": service_sid(e.mailing),
                "to": f.phone, "from": sender_number(e.mailing), "link": f.url or "",
                "shortened_link": SHORT_LINK_BASE + (e.link_token or ""),
                "link_create_time": iso(sent_us).replace("+00:00", "Z"), "click_time": at,
                "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148",
            }
            self._cloud_event(out, rng, CLICK_TYPE, ce_id, e.at_us, CLICK_SCHEMA, data)
            if rng.random() < self.quirks.bogus_rate * 3:  # a click of a service nobody mapped
                bogus_id = sid("EZ", e.event_id, "bogus")
                bogus = {**data, "message_sid": sid("SM", "elsewhere", e.event_id),
                         "messaging_service_sid": sid("MG", "unmapped")}
                self._cloud_event(out, rng, CLICK_TYPE, bogus_id, e.at_us, CLICK_SCHEMA, bogus)
                out.deliveries[bogus_id] = 1
                out.interactions.append(PlannedInteraction(bogus_id, None, e.at_us))
        else:
            data = {"messageSid": sid("SM", "inbound", e.event_id), "timestamp": at, "accountSid": ACCOUNT_SID,
                    "eventName": INBOUND_TYPE, "from": f.phone, "to": sender_number(e.mailing),
                    "body": e.text or "", "numMedia": 0, "messagingServiceSid": service_sid(e.mailing),
                    "toCountry": "US", "fromCountry": "US" if f.phone.startswith("+1") else "GB"}
            if kind in ("opt_out", "opt_in"):
                data["optOutType"] = "STOP" if kind == "opt_out" else "START"
            self._cloud_event(out, rng, INBOUND_TYPE, ce_id, e.at_us, INBOUND_SCHEMA, data)
        out.interactions.append(PlannedInteraction(ce_id, f, e.at_us))
        out.rendered_facts.append(f)


def deliveries_of(rendering: TwilioRendering) -> list[dict[str, Any]]:
    """Every delivery: each event once, a re-delivered one twice."""
    return [ev for ev in rendering.events for _ in range(rendering.deliveries[ev["id"]])]
