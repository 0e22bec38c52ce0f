"""A window's Twilio events as canonical records: one ``sentSMS`` per message, one ``interactedSMS`` per reply or click.

Windows select by the instant an event is filed under (its own time, see ``twilio_store``); the adapter
also reads ``lookback`` before the window, for the earlier statuses of the messages it reports and for
the mailing of a click or reply.

**One message, one send.** The status events of a message (queued → sent → delivered, in any order of
arrival) become ONE ``sentSMS``, reported by every window that holds a *terminal* status of it
(delivered, undelivered, failed, read) with: eventId = messageSid; timestamp = its earliest status (the
send; before the window it is counted late); deliveryStatus = the latest terminal status by its own
timestamp (read counts as delivered); statusCode = that event's errorCode (0 when none); the whole status
history known up to the window's end as ``statusHistory``. A message whose statuses straddle windows is
reported by the window of its terminal status; one with terminal statuses in two windows is reported by
both with the same eventId, and the importer keeps the earliest window's (the later counts a
duplicate), so any order of (re)runs gives the same tables. A message with no terminal status yet is
not reported (it cannot be classified delivered or failed) and is counted as pending in the log.

**At-least-once.** Each re-delivery of a terminal status, reply or click (same CloudEvent id) adds one
more identical record, which the importer counts as a duplicate: downloaded = imported + duplicates +
rejected still holds. Lines that cannot be read become records the importer quarantines, with the raw line.

**Mailing.** Twilio has no mailing name: a status event's ``tags[mailing_tag]``, else the configured
``mailing_services`` (messaging service SID → mailing); a click's message's mailing, else its service's; a
reply's service's, else (``reply_to_last_message``) the mailing of the last message sent to that phone
before it. Unresolved, the record has no mailingName and is quarantined.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sms_response.adapters.twilio_events import (
    BadEvent,
    ClickEvent,
    InboundEvent,
    StatusEvent,
    error_code,
    link_token,
    read_event,
    segments,
    text,
)
from sms_response.adapters.twilio_store import StoredLine, iso_z

log = logging.getLogger(__name__)
SENT, INTERACTED = "sentSMS", "interactedSMS"


@dataclass(frozen=True)
class MailingRules:
    """Where a mailing name (and campaign code) is found; see the module docstring."""

    mailing_tag: str = "mailingName"
    campaign_tag: str = "campaignCode"
    mailing_services: Mapping[str, str] = field(default_factory=dict)
    reply_to_last_message: bool = True


@dataclass
class WindowStats:
    messages: int = 0
    pending: int = 0
    replies: int = 0
    clicks: int = 0
    ignored: int = 0
    unreadable: int = 0


def attr(name: str, value: Any, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "value": value, "type": kind}


def envelope(code: str, phone: str | None, at: datetime, attributes: list[dict[str, Any]]) -> dict[str, Any]:
    idents = [] if phone is None else [{"name": "phoneNumber", "value": phone}]
    return {"channel": "SMS", "identifiers": idents,
            "events": [{"code": code, "timestamp": iso_z(at), "attributes": attributes}]}


def quarantined(line: StoredLine, reason: str) -> dict[str, Any]:
    """A record the importer rejects ("no events list") and quarantines with the raw Twilio line."""
    return {"channel": "SMS", "twilio_problem": reason, "position": line.position,
            "line": line.doc if line.doc is not None else line.raw}


class Message:
    """Every known status event of one messageSid (de-duplicated by CloudEvent id)."""

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.events: dict[str, StatusEvent] = {}

    def add(self, ev: StatusEvent) -> None:
        self.events.setdefault(ev.line.ce_id, ev)

    def ordered(self) -> list[StatusEvent]:
        return sorted(self.events.values(), key=lambda e: e.order)

    def field(self, key: str, prefer: StatusEvent | None = None) -> Any:
        """A data field from ``prefer`` if it has it, else the latest event that has it."""
        for ev in ([prefer] if prefer else []) + self.ordered()[::-1]:
            value = ev.data.get(key)
            if value not in (None, "", {}):
                return value
        return None

    def mailing(self, rules: MailingRules) -> str | None:
        tags = self.field("tags")
        tagged = tags.get(rules.mailing_tag) if isinstance(tags, dict) else None
        if isinstance(tagged, str) and tagged.strip():
            return tagged.strip()
        service = self.field("messagingServiceSid")
        return rules.mailing_services.get(service) if isinstance(service, str) else None

    def sent_record(self, rules: MailingRules) -> dict[str, Any]:
        history = self.ordered()
        final = max((e for e in history if e.terminal), key=lambda e: e.order)
        tags = self.field("tags", final)
        tags = tags if isinstance(tags, dict) else {}
        campaign = tags.get(rules.campaign_tag)
        code = error_code(final.data.get("errorCode"))
        mailing = self.mailing(rules)
        attrs = [attr("eventId", self.sid)]
        if mailing is not None:
            attrs.append(attr("mailingName", mailing))
        if isinstance(campaign, str) and campaign.strip():
            attrs.append(attr("campaignCode", campaign.strip()))
        attrs += [attr("deliveryStatus", "delivered" if final.status == "read" else final.status),
                  attr("statusCode", str(code if code is not None else 0), "number")]
        body, parts = self.field("body", final), segments(self.field("numberOfSegments", final))
        if body is not None:
            attrs.append(attr("messageBody", str(body)))
        if parts is not None:
            attrs.append(attr("messageParts", str(parts), "number"))
        attrs.append(attr("statusHistory", [
            {"status": e.status, "timestamp": iso_z(e.at), "errorCode": error_code(e.data.get("errorCode"))}
            for e in history], "json"))
        attrs.append(attr("finalStatus", final.status))
        for name in ("messagingServiceSid", "from", "accountSid", "mcc", "mnc"):
            value = self.field(name, final)
            if value is not None:
                attrs.append(attr("sender" if name == "from" else name, str(value)))
        raw_dlr = final.data.get("rawDlrDoneDate")  # carrier-local YYMMDDhhmm, no time zone: kept verbatim
        if raw_dlr not in (None, ""):
            attrs.append(attr("rawDlrDoneDate", str(raw_dlr)))
        if tags:
            attrs.append(attr("tags", tags, "json"))
        to = self.field("to", final)
        return envelope(SENT, str(to) if to is not None else None, history[0].at, attrs)


class WindowBuilder:
    """Collects the lines read for a window (and its look-back) and renders its records."""

    def __init__(self, start: datetime, end: datetime, rules: MailingRules) -> None:
        self.start, self.end, self.rules = start, end, rules
        self.messages: dict[str, Message] = {}
        self.terminal_lines: dict[str, list[str]] = defaultdict(list)  # sid -> CloudEvent ids, one per delivery
        self.statuses_in_window: set[str] = set()
        self.interactions: list[InboundEvent | ClickEvent] = []
        self.rejects: list[dict[str, Any]] = []
        self.stats = WindowStats()

    def add(self, line: StoredLine) -> None:
        inside = self.start <= line.time < self.end
        try:
            ev = read_event(line)
        except BadEvent as bad:
            if inside:
                self.stats.unreadable += 1
                self.rejects.append(quarantined(line, str(bad)))
            return
        if ev is None:
            self.stats.ignored += inside
            return
        if isinstance(ev, StatusEvent):
            self.messages.setdefault(ev.message_sid, Message(ev.message_sid)).add(ev)
            if inside:
                self.statuses_in_window.add(ev.message_sid)
                if ev.terminal:
                    self.terminal_lines[ev.message_sid].append(ev.line.ce_id)
        elif inside:
            self.interactions.append(ev)

    def records(self) -> list[tuple[tuple[str, str, str], Any]]:
        """(sort key, record) of every record of the window; a re-delivery repeats its record."""
        out: list[tuple[tuple[str, str, str], Any]] = []
        for sid, ids in self.terminal_lines.items():
            msg = self.messages[sid]
            try:
                rec = msg.sent_record(self.rules)
            except BadEvent as bad:
                first = next(e for e in msg.ordered() if e.line.ce_id in ids)
                self.rejects.append({"channel": "SMS", "twilio_problem": str(bad), "position": first.line.position,
                                     "message": [e.data for e in msg.ordered()]})
                continue
            key = (rec["events"][0]["timestamp"], SENT, sid)
            out += [(key, rec)] * (1 + len(ids) - len(set(ids)))
        self.stats.messages = len(self.terminal_lines)
        self.stats.pending = sum(1 for sid in self.statuses_in_window
                                 if not any(e.terminal for e in self.messages[sid].events.values()))
        by_phone = self._sends_by_phone() if self.rules.reply_to_last_message else {}
        for ev in self.interactions:
            try:
                rec = self._click(ev) if isinstance(ev, ClickEvent) else self._reply(ev, by_phone)
            except BadEvent as bad:
                self.rejects.append({"channel": "SMS", "twilio_problem": str(bad), "position": ev.line.position,
                                     "line": ev.data})
                continue
            out.append(((rec["events"][0]["timestamp"], INTERACTED, ev.line.ce_id), rec))
        out += [(("", "~", str(r["position"])), r) for r in self.rejects]
        out.sort(key=lambda kr: kr[0])
        return out

    def _sends_by_phone(self) -> dict[str, list[tuple[datetime, str]]]:
        out: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for msg in self.messages.values():
            to, mailing = msg.field("to"), msg.mailing(self.rules)
            if isinstance(to, str) and mailing is not None:
                out[to.strip()].append((msg.ordered()[0].at, mailing))
        for sends in out.values():
            sends.sort()
        return out

    def _mailing_of_service(self, data: Mapping[str, Any], key: str) -> str | None:
        service = data.get(key)
        return self.rules.mailing_services.get(service) if isinstance(service, str) else None

    def _click(self, ev: ClickEvent) -> dict[str, Any]:
        d = ev.data
        sid = text(d, "message_sid")
        msg = self.messages.get(sid) if sid else None
        mailing = (msg.mailing(self.rules) if msg else None) or self._mailing_of_service(d, "messaging_service_sid")
        attrs = [attr("eventId", ev.line.ce_id)]
        if mailing is not None:
            attrs.append(attr("mailingName", mailing))
        attrs.append(attr("interactionType", "click"))
        for name, value in (("url", text(d, "link")), ("linkToken", link_token(text(d, "shortened_link"))),
                            ("messageSid", sid), ("shortenedLink", text(d, "shortened_link")),
                            ("messagingServiceSid", text(d, "messaging_service_sid"))):
            if value is not None:
                attrs.append(attr(name, value))
        self.stats.clicks += 1
        return envelope(INTERACTED, text(d, "to"), ev.at, attrs)

    def _reply(self, ev: InboundEvent, by_phone: Mapping[str, list[tuple[datetime, str]]]) -> dict[str, Any]:
        d = ev.data
        phone = text(d, "from")
        mailing = self._mailing_of_service(d, "messagingServiceSid")
        if mailing is None and phone is not None:
            earlier = [m for at, m in by_phone.get(phone, []) if at <= ev.at]
            mailing = earlier[-1] if earlier else None
        attrs = [attr("eventId", ev.message_sid)]
        if mailing is not None:
            attrs.append(attr("mailingName", mailing))
        attrs += [attr("interactionType", "reply"), attr("messageBody", d.get("body") or "")]
        for name, value in (("keyword", text(d, "optOutType")), ("toNumber", text(d, "to")),
                            ("messagingServiceSid", text(d, "messagingServiceSid"))):
            if value is not None:
                attrs.append(attr(name, value))
        self.stats.replies += 1
        return envelope(INTERACTED, phone, ev.at, attrs)


def window_records(
    lines: Iterable[StoredLine], start: datetime, end: datetime, rules: MailingRules
) -> tuple[list[Any], WindowStats]:
    """The canonical records of the window ``[start, end)`` from the lines of ``[start - lookback, end)``."""
    builder = WindowBuilder(start, end, rules)
    for line in lines:
        builder.add(line)
    records = [rec for _, rec in builder.records()]
    return records, builder.stats
