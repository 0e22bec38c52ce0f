"""The platform's published events as Braze Currents would write them: Avro records per event type and hour.

Every fact the simulator published (the campaign model's records and the push side's) is rendered in Braze's
terms, into the ``date=`` partition of the hour it was published (Currents' "hour queued for processing"):

* a message (``sentSMS``) is a ``Send`` in the hour of its send and, in its publication hour, the event that
  ends it: ``Delivery``, ``Rejection`` (status failed) or ``DeliveryFailure`` (undelivered), a few seconds
  later, with the failure code as ``provider_error_code``; Braze's ``id`` of that event is the model's eventId;
* a click is a ``ShortLinkClick`` (``url`` the landing page, ``short_url`` the per-recipient short link);
  a reply, an action (a text reply naming it), an opt-out or opt-in is an ``InboundReceive`` whose ``action``
  is ``None``, ``Unsubscribed`` or ``Subscribed``. Braze attaches a campaign to a reply only within four hours
  of the last message to that phone (and then that message's), so later replies carry none;
* conversions are not SMS events in Currents and are not rendered; recipients skipped because they had opted
  out are ``Abort`` events.

Quirks of the published format: times are whole seconds; optional fields are null (campaign_* for these
Canvas messages, and a seeded share of external_user_id, dispatch_id, timezone, is_suspected_bot_click …);
the model's re-deliveries are the same events in a second file of their hour; one whole file per run is
written twice; malformed records Braze's schema can carry (no or a bad phone, an empty id, a click without
its Canvas step) are rendered, the others cannot exist in Avro and are left out. The model knows no bot
clicks: ``BOT_CLICK_SHARE`` of delivered messages get an EXTRA link-preview click flagged
``is_suspected_bot_click`` that the truth does not count (``braze_truth``).
"""

from __future__ import annotations

import bisect
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .braze_schemas import blank
from .clock import HOUR_US, US_PER_S, from_us
from .records import Fact, ModelRecord
from .state import PlatformState
from .vocabulary import LINK_BASE, SENT, UNPARSEABLE_PHONES, landing_url, opt_event_kind, reply_keyword

REPLY_CONTEXT_S = 4 * 3600  # Braze: a reply within four hours of a message carries its campaign
BOT_CLICK_SHARE = 0.08
INTEGRATION_ID = "64f0c0ffee5b1a0012a7e5d1"
CLUSTER = "prod-01"
BOT_USER_AGENTS = ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                   "python-requests/2.32.3", "WhatsApp/2.23.20.0 link preview")
OUTCOME_TYPE = {"delivered": "Delivery", "failed": "Rejection", "undelivered": "DeliveryFailure"}
ERROR_NAME = {"failed": "Rejected by carrier", "undelivered": "Undeliverable"}
RENDERABLE_MALFORMED = ("missing_phone", "unparseable_phone", "missing_event_id", "missing_mailing_name")
# Roles of written records: those that are (canonical) records of a window, and the others.
RECORD_ROLES = ("original", "duplicate", "malformed", "bot", "redelivered")
_NS = uuid.UUID("6c1f1f36-8b8e-4d0e-9d38-0b6a0b7e2a11")


def seconds(us: int) -> int:
    return us // US_PER_S


def unit(key: str) -> float:
    """A seeded draw in [0, 1) from a key (stable across runs and orders)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def braze_id(key: str) -> str:
    return str(uuid.uuid5(_NS, key))


@dataclass
class Written:
    """One Braze event as written: its type, partition hour, file batch and what it stands for."""

    event_type: str
    hour_us: int
    batch: int  # 0: first delivery; 1: the model's re-deliveries; 2: the file written twice
    record: dict[str, Any]
    role: str  # original | duplicate | malformed | bot | redelivered | send | abort
    expected: dict[str, Any] | None = None  # the row the pipeline must hold (original and bot records)


@dataclass
class BrazeWorld:
    """What Braze knows beyond one event: who was texted when, names of campaigns, contacts."""

    sends: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))  # phone -> (s, mailing)
    campaign_of: dict[str, str] = field(default_factory=dict)
    contact_of: dict[str, str] = field(default_factory=dict)

    def add_send(self, f: Fact) -> None:
        bisect.insort(self.sends[f.phone], (seconds(f.event.at_us), f.event.mailing))
        if f.campaign_code:
            self.campaign_of.setdefault(f.event.mailing, f.campaign_code)

    def last_send(self, phone: str, at_s: int) -> tuple[int, str] | None:
        sends = self.sends.get(phone, [])
        i = bisect.bisect_right(sends, (at_s, "\uffff"))
        return sends[i - 1] if i else None

    def inbound_mailing(self, phone: str, at_s: int, fallback: str) -> str:
        """The mailing a reply counts for on Braze: the last message sent to the phone (campaign attached
        within four hours, else the adapter attributes it the same way)."""
        last = self.last_send(phone, at_s)
        return last[1] if last is not None else fallback


def published_hours(state: PlatformState) -> Iterator[tuple[int, list[Any]]]:
    """(hour, entries published in it) over the whole event log."""
    keys = state._keys  # the state keeps no public span; its keys are (published_us << 32 | sequence)
    if not keys:
        return
    first, last = (keys[0] >> 32) // HOUR_US * HOUR_US, keys[-1] >> 32
    hour = first
    while hour <= last:
        entries = state.entries_between(from_us(hour), from_us(hour + HOUR_US))
        if entries:
            yield hour, list(entries)
        hour += HOUR_US


class Renderer:
    """Renders a platform state into Braze ``Written`` records."""

    def __init__(self, state: PlatformState) -> None:
        self.state = state
        self.world = BrazeWorld(contact_of={c.e164: c.contact_id for c in state.contacts() if c.e164})
        self.out: list[Written] = []

    def render(self) -> list[Written]:
        hours = list(published_hours(self.state))
        for _, entries in hours:
            for entry in entries:
                if entry.status == "original":
                    for f in entry.facts():
                        if f.event.code == SENT:
                            self.world.add_send(f)
        for hour, entries in hours:
            for entry in entries:
                if entry.status == "malformed":
                    if isinstance(entry, ModelRecord):
                        self._malformed(entry, hour)
                    continue
                for f in entry.facts():
                    self._fact(f, hour, entry.status)
        self._aborts()
        self._write_one_file_twice()
        return self.out

    # -- one fact --------------------------------------------------------------------------------

    def _common(self, f: Fact, mailing: str | None) -> dict[str, Any]:
        key = f.event.event_id
        campaign = self.world.campaign_of.get(mailing or "")
        rec: dict[str, Any] = {
            "user_id": braze_id(f"user:{f.phone}"),
            "external_user_id": None if unit(f"{key}:ext") < 0.1 else self.world.contact_of.get(f.phone),
            "timezone": "America/New_York" if unit(f"{key}:tz") < 0.3 else None,
        }
        if mailing is not None:
            rec.update(canvas_id=braze_id(f"canvas:{campaign}"), canvas_name=campaign,
                       canvas_step_id=braze_id(f"step:{mailing}"), canvas_step_name=mailing)
        return rec

    def _fact(self, f: Fact, hour: int, status: str) -> None:
        e = f.event
        if e.code == SENT:
            self._message(f, hour, status)
        elif e.interaction == "click":
            self._click(f, hour, status)
        elif e.interaction != "conversion":
            self._inbound(f, hour, status)

    def _message(self, f: Fact, hour: int, status: str, broken: str | None = None) -> None:
        e = f.event
        send_s = seconds(e.at_us)
        out_s = send_s + 1 + int(unit(f"{e.event_id}:dlr") * 20)
        dispatch = None if unit(f"{e.event_id}:dispatch") < 0.15 else braze_id(f"dispatch:{e.mailing}")
        base = {**self._common(f, e.mailing), "dispatch_id": dispatch, "to_phone_number": f.phone,
                "app_group_id": braze_id("app-group") if unit(f"{e.event_id}:app") < 0.5 else None}
        if status == "original" and broken is None:
            send = {**base, "id": braze_id(f"send:{e.event_id}"), "time": send_s,
                    "subscription_group_id": braze_id("subscription-group")}
            self._write("Send", e.at_us // HOUR_US * HOUR_US, send, "send")
        outcome = {**base, "id": e.event_id, "time": out_s}
        kind = e.delivery_status or "delivered"
        if kind != "delivered":
            outcome.update(error=ERROR_NAME.get(kind), provider_error_code=str(e.status_code))
        if kind != "undelivered":
            outcome["from_phone_number"] = "+18885550100" if unit(f"{e.event_id}:from") < 0.5 else None
        expected = {"table": "sms_sent", "event_id": e.event_id, "phone": f.phone, "mailing": e.mailing,
                    "at_s": send_s, "status": kind, "status_code": e.status_code if kind != "delivered" else None,
                    "campaign_code": self.world.campaign_of.get(e.mailing)}
        self._emit(OUTCOME_TYPE.get(kind, "Delivery"), hour, outcome, status, expected, broken, "to_phone_number")
        if (status == "original" and broken is None and kind == "delivered" and e.link_token
                and unit(f"{e.event_id}:bot") < BOT_CLICK_SHARE):
            self._bot_click(f, hour, out_s)

    def _link(self, f: Fact) -> tuple[str | None, str | None]:
        token = f.event.link_token
        return f.url, (LINK_BASE + token) if token else None

    def _click(self, f: Fact, hour: int, status: str, broken: str | None = None) -> None:
        e = f.event
        url, short = self._link(f)
        human = unit(f"{e.event_id}:botflag")
        rec = {**self._common(f, e.mailing), "id": e.event_id, "time": seconds(e.at_us), "url": url or "",
               "short_url": short or url or "", "user_phone_number": f.phone,
               "is_suspected_bot_click": None if human < 0.25 else False,
               "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)" if human < 0.5 else None}
        expected = {"table": "sms_interactions", "event_id": e.event_id, "phone": f.phone, "mailing": e.mailing,
                    "at_s": seconds(e.at_us), "type": "click", "url": url, "link_token": e.link_token,
                    "reply_text": None, "bot": None if human < 0.25 else False}
        self._emit("ShortLinkClick", hour, rec, status, expected, broken, "user_phone_number")

    def _bot_click(self, f: Fact, hour: int, delivered_s: int) -> None:
        e = f.event
        url, short = landing_url(e.mailing), LINK_BASE + (e.link_token or "")
        eid = braze_id(f"bot:{e.event_id}")
        at_s = delivered_s + 1 + int(unit(f"{e.event_id}:botdelay") * 3)
        rec = {**self._common(f, e.mailing), "id": eid, "time": at_s, "url": url or "", "short_url": short or "",
               "user_phone_number": f.phone, "is_suspected_bot_click": True,
               "suspected_bot_click_reason": ["user_agent"],
               "user_agent": BOT_USER_AGENTS[int(unit(f"{e.event_id}:ua") * len(BOT_USER_AGENTS))]}
        expected = {"table": "sms_interactions", "event_id": eid, "phone": f.phone, "mailing": e.mailing,
                    "at_s": at_s, "type": "click", "url": url, "link_token": e.link_token, "reply_text": None,
                    "bot": True}
        self._write("ShortLinkClick", hour, rec, "bot", expected)

    def _inbound(self, f: Fact, hour: int, status: str, broken: str | None = None) -> None:
        e = f.event
        at_s = seconds(e.at_us)
        kind = opt_event_kind(e.code, e.interaction, e.keyword)
        action = {"opt_out": "Unsubscribed", "opt_in": "Subscribed"}.get(kind or "", "None")
        last = self.world.last_send(f.phone, at_s)
        with_campaign = last is not None and at_s - last[0] <= REPLY_CONTEXT_S
        mailing = self.world.inbound_mailing(f.phone, at_s, e.mailing)
        text = e.text or ""
        rec = {**self._common(f, mailing if with_campaign else None), "id": e.event_id, "time": at_s,
               "action": action, "app_group_id": braze_id("app-group"), "inbound_phone_number": "+18885550100",
               "message_body": text, "user_phone_number": f.phone,
               "subscription_group_id": braze_id("subscription-group"), "media_urls": None}
        itype = kind or "reply"
        expected = {"table": "sms_interactions", "event_id": e.event_id, "phone": f.phone, "mailing": mailing,
                    "at_s": at_s, "type": itype, "url": None, "link_token": None, "reply_text": text,
                    "keyword": reply_keyword(text) if itype == "reply" else None, "bot": None}
        self._emit("InboundReceive", hour, rec, status, expected, broken, "user_phone_number")

    def _emit(self, event_type: str, hour: int, rec: dict[str, Any], status: str, expected: dict[str, Any],
              broken: str | None, phone_field: str) -> None:
        if broken is None:
            self._write(event_type, hour, rec, status, expected if status == "original" else None,
                        batch=1 if status == "duplicate" else 0)
            return
        if broken == "missing_phone":
            rec[phone_field] = None
        elif broken.startswith("unparseable_phone:"):
            rec[phone_field] = broken.split(":", 1)[1]
        elif broken == "missing_event_id":
            rec["id"] = ""
        elif broken == "missing_mailing_name":
            rec.update(canvas_step_name=None, canvas_step_id=None, campaign_name=None)
        self._write(event_type, hour, rec, "malformed")

    def _malformed(self, record: ModelRecord, hour: int) -> None:
        kind = record.malformed_kind or ""
        source = record.events[0]
        if kind not in RENDERABLE_MALFORMED or source.interaction == "conversion":
            return
        if kind == "missing_mailing_name" and source.interaction != "click":
            return  # a message's or reply's mailing is recovered from its Send: not malformed on Braze
        broken = f"unparseable_phone:{UNPARSEABLE_PHONES[record.variant % len(UNPARSEABLE_PHONES)]}" \
            if kind == "unparseable_phone" else kind
        fact = record.campaign.fact(source)
        fact = Fact(_with_id(source, record.malformed_event_id or braze_id(f"malformed:{source.event_id}")),
                    fact.phone, fact.campaign_code, fact.body, fact.parts, fact.variant, fact.url)
        if source.code == SENT:
            self._message(fact, hour, "malformed", broken)
        elif source.interaction == "click":
            self._click(fact, hour, "malformed", broken)
        else:
            self._inbound(fact, hour, "malformed", broken)

    def _aborts(self) -> None:
        campaign = self.state.campaign
        if campaign is None:
            return
        for recipient, history in zip(campaign.recipients, campaign.histories, strict=True):
            for k in history.suppressed:
                mailing = campaign.mailings[k]
                rec = {"id": braze_id(f"abort:{recipient.e164}:{mailing.name}"), "time": seconds(mailing.scheduled_us),
                       "user_id": braze_id(f"user:{recipient.e164}"), "external_user_id": recipient.contact_id,
                       "to_phone_number": recipient.e164, "canvas_step_name": mailing.name,
                       "canvas_name": campaign.config.campaign_code, "abort_type": "subscription_group_unsubscribed",
                       "abort_log": "user is unsubscribed from the subscription group"}
                self._write("Abort", mailing.scheduled_us // HOUR_US * HOUR_US, rec, "abort")

    def _write_one_file_twice(self) -> None:
        """Currents re-delivers whole files now and then: the first hour's first Delivery file, again."""
        firsts = [w for w in self.out if w.event_type == "Delivery" and w.batch == 0]
        if not firsts:
            return
        hour = min(w.hour_us for w in firsts)
        for w in [w for w in firsts if w.hour_us == hour]:
            # a malformed record written twice is rejected twice (it never made it into the tables)
            role = "malformed" if w.role == "malformed" else "redelivered"
            self.out.append(Written(w.event_type, w.hour_us, 2, dict(w.record), role))

    def _write(self, event_type: str, hour: int, rec: dict[str, Any], role: str,
               expected: dict[str, Any] | None = None, batch: int = 0) -> None:
        self.out.append(Written(event_type, hour, batch, {**blank(event_type), **rec}, role, expected))


def _with_id(event: Any, event_id: str) -> Any:
    return replace(event, event_id=event_id)

