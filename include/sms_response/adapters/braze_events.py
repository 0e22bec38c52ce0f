"""Braze Currents SMS events → the canonical envelopes the importer reads (``sentSMS`` / ``interactedSMS``).

Fields are those of the published Currents storage schemas (Braze "Message engagement events", tab
*Cloud Storage*, ``users.messages.sms.*``); every optional field may be null.

* ``Delivery`` / ``Rejection`` / ``DeliveryFailure`` each end one message: they become its one ``sentSMS``
  record (``deliveryStatus`` delivered / failed / undelivered, ``statusCode`` from ``provider_error_code``
  when it is a number), with the event's ``id`` as ``eventId``. Its time is that of the message's ``Send``
  event (the send time the segments and metrics measure from), found among the Sends of the window and of
  the look-back hours: same phone, same ``dispatch_id`` and mailing when both sides carry them, the
  latest Send at or before the outcome. Without a Send the outcome's own time stands.
* ``Send`` events only feed that match, and ``Abort`` events (a message that was never sent) are skipped:
  neither is a record of its own.
* ``InboundReceive`` is a reply, or an opt-out / opt-in when ``action`` is ``Unsubscribed`` /
  ``Subscribed``. Braze attaches the campaign only to replies within four hours of a message; a reply
  without it is attributed to the last message sent to that phone (Braze's own advice).
* ``ShortLinkClick`` is a click on ``url``; its short link's last path segment is the ``linkToken``, and
  ``is_suspected_bot_click`` travels as ``suspectedBotClick`` (kept, not counted as a response).
"""

from __future__ import annotations

import bisect
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

SEND = "Send"
DELIVERY = "Delivery"
REJECTION = "Rejection"
DELIVERY_FAILURE = "DeliveryFailure"
INBOUND = "InboundReceive"
CLICK = "ShortLinkClick"
ABORT = "Abort"
OUTCOME_STATUS = {DELIVERY: "delivered", REJECTION: "failed", DELIVERY_FAILURE: "undelivered"}
INBOUND_ACTIONS = {"unsubscribed": "opt_out", "subscribed": "opt_in"}
# Braze fields kept in the row's attributes (jsonb) for tracing an event back to Braze.
TRACE_FIELDS = {
    "user_id": "brazeUserId", "dispatch_id": "dispatchId", "send_id": "sendId", "campaign_id": "campaignId",
    "canvas_id": "canvasId", "canvas_step_id": "canvasStepId", "message_variation_name": "messageVariationName",
    "canvas_variation_name": "canvasVariationName", "timezone": "timezone", "user_agent": "userAgent",
    "error": "error", "provider_error_code": "providerErrorCode", "inbound_phone_number": "inboundPhoneNumber",
    "action": "action",
}
_INTEGER = re.compile(r"^[+-]?\d{1,9}$")


@dataclass(frozen=True)
class Naming:
    """Which Braze fields carry the campaign tool's unique mailing name and its campaign code (the first
    non-empty field of each list wins)."""

    mailing_name_fields: tuple[str, ...] = ("canvas_step_name", "campaign_name")
    campaign_code_fields: tuple[str, ...] = ("canvas_name",)

    def mailing(self, record: Mapping[str, Any]) -> str | None:
        return _first(record, self.mailing_name_fields)

    def campaign(self, record: Mapping[str, Any]) -> str | None:
        return _first(record, self.campaign_code_fields)


def _first(record: Mapping[str, Any], fields: Sequence[str]) -> str | None:
    for name in fields:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True, order=True)
class SentMessage:
    """What a ``Send`` event tells: when, which dispatch and mailing."""

    time: int
    event_id: str
    dispatch_id: str | None
    mailing: str | None
    campaign: str | None


class SendIndex:
    """The Send events of a window and its look-back hours, by phone, in time order."""

    def __init__(self, naming: Naming) -> None:
        self.naming = naming
        self._by_phone: dict[str, list[SentMessage]] = defaultdict(list)
        self._seen: set[str] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, record: Mapping[str, Any]) -> None:
        phone, time, event_id = record.get("to_phone_number"), record.get("time"), record.get("id")
        if not isinstance(phone, str) or not isinstance(time, int) or not isinstance(event_id, str):
            return
        if event_id in self._seen:  # a re-delivered Send
            return
        self._seen.add(event_id)
        dispatch = record.get("dispatch_id")
        sent = SentMessage(time, event_id, dispatch if isinstance(dispatch, str) else None,
                           self.naming.mailing(record), self.naming.campaign(record))
        bisect.insort(self._by_phone[phone.strip()], sent)

    def _before(self, phone: str, time: int) -> list[SentMessage]:
        sends = self._by_phone.get(phone.strip(), [])
        return sends[: bisect.bisect_right(sends, time, key=lambda s: s.time)]

    def for_outcome(self, phone: str, time: int, dispatch_id: str | None, mailing: str | None) -> SentMessage | None:
        """The Send an outcome event ends: the latest one at or before it that does not contradict it."""
        for sent in reversed(self._before(phone, time)):
            if dispatch_id and sent.dispatch_id and dispatch_id != sent.dispatch_id:
                continue
            if mailing and sent.mailing and mailing != sent.mailing:
                continue
            return sent
        return None

    def last_before(self, phone: str, time: int) -> SentMessage | None:
        """The last message sent to ``phone`` at or before ``time`` that names a mailing."""
        return next((s for s in reversed(self._before(phone, time)) if s.mailing), None)


def iso_seconds(value: object) -> str | None:
    """Currents ``time`` (UTC seconds since the epoch) as ISO-8601; None when it is not a number."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(value, UTC).isoformat()


def link_token(short_url: object) -> str | None:
    """The short link's token: the last segment of its path (``https://brz.ai/Ab3dE`` → ``Ab3dE``)."""
    if not isinstance(short_url, str) or not short_url.strip():
        return None
    path = urlsplit(short_url.strip()).path.rstrip("/")
    token = path.rsplit("/", 1)[-1]
    return token or None


def keyword(body: object, action: str | None) -> str | None:
    """A reply's keyword: its first word; for a subscription change the whole (short) message, as a keyword
    like ``OPT OUT`` spans words."""
    if not isinstance(body, str) or not body.strip():
        return None
    text = " ".join(body.upper().split()).strip(".!")
    if action in INBOUND_ACTIONS.values():
        return text or None
    first = re.sub(r"[^A-Z0-9]", "", text.split(" ")[0]) if text else ""
    return first or None


def _attr(name: str, value: object, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "value": value, "type": kind}


class Converter:
    """One window's conversion: Currents records in, canonical envelopes out."""

    def __init__(self, naming: Naming, sends: SendIndex) -> None:
        self.naming = naming
        self.sends = sends
        self.skipped: dict[str, int] = defaultdict(int)
        self.outcomes_without_send = 0
        self.replies_attributed = 0

    def envelope(self, event_type: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
        if event_type in OUTCOME_STATUS:
            return self._outcome(event_type, record)
        if event_type == INBOUND:
            return self._inbound(record)
        if event_type == CLICK:
            return self._click(record)
        self.skipped[event_type] += 1
        return None

    def _outcome(self, event_type: str, rec: Mapping[str, Any]) -> dict[str, Any]:
        phone, time = rec.get("to_phone_number"), rec.get("time")
        dispatch = rec.get("dispatch_id") if isinstance(rec.get("dispatch_id"), str) else None
        mailing = self.naming.mailing(rec)
        sent = None
        if isinstance(phone, str) and isinstance(time, int):
            sent = self.sends.for_outcome(phone, time, dispatch, mailing)
        if sent is None:
            self.outcomes_without_send += 1
        attrs = [
            _attr("mailingName", mailing or (sent.mailing if sent else None)),
            _attr("campaignCode", self.naming.campaign(rec) or (sent.campaign if sent else None)),
            _attr("deliveryStatus", OUTCOME_STATUS[event_type]),
        ]
        code = rec.get("provider_error_code")
        if isinstance(code, str) and _INTEGER.match(code.strip()):
            attrs.append(_attr("statusCode", code.strip(), "number"))
        if sent is not None:
            attrs.append(_attr("brazeSendEventId", sent.event_id))
        return self._envelope(rec, phone, sent.time if sent else time, event_type, "sentSMS", attrs)

    def _inbound(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        phone, time = rec.get("user_phone_number"), rec.get("time")
        action = rec.get("action")
        itype = INBOUND_ACTIONS.get(action.strip().lower(), "reply") if isinstance(action, str) else "reply"
        mailing = self.naming.mailing(rec)
        attrs: list[dict[str, Any]] = []
        if mailing is None and isinstance(phone, str) and isinstance(time, int):
            last = self.sends.last_before(phone, time)
            if last is not None:
                mailing = last.mailing
                self.replies_attributed += 1
                attrs.append(_attr("attributedToSendEventId", last.event_id))
        body = rec.get("message_body")
        attrs += [
            _attr("mailingName", mailing),
            _attr("interactionType", itype),
            _attr("messageBody", body if isinstance(body, str) else None),
            _attr("keyword", keyword(body, itype)),
        ]
        media = rec.get("media_urls")
        if isinstance(media, list) and media:
            attrs.append(_attr("mediaUrls", json.dumps(media)))
        return self._envelope(rec, phone, time, INBOUND, "interactedSMS", attrs)

    def _click(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        url, short_url = rec.get("url"), rec.get("short_url")
        attrs = [
            _attr("mailingName", self.naming.mailing(rec)),
            _attr("interactionType", "click"),
            _attr("url", url if isinstance(url, str) and url else short_url),
            _attr("linkToken", link_token(short_url)),
        ]
        if isinstance(short_url, str):
            attrs.append(_attr("shortUrl", short_url))
        bot = rec.get("is_suspected_bot_click")
        if isinstance(bot, bool):
            attrs.append(_attr("suspectedBotClick", "true" if bot else "false", "boolean"))
        reason = rec.get("suspected_bot_click_reason")
        if isinstance(reason, list) and reason:
            attrs.append(_attr("suspectedBotClickReason", json.dumps(reason)))
        return self._envelope(rec, rec.get("user_phone_number"), rec.get("time"), CLICK, "interactedSMS", attrs)

    def _envelope(
        self, rec: Mapping[str, Any], phone: object, time: object, event_type: str, code: str,
        attrs: list[dict[str, Any]],
    ) -> dict[str, Any]:
        identifiers = []
        if isinstance(phone, str):
            identifiers.append({"name": "phoneNumber", "value": phone})
        external = rec.get("external_user_id")
        if isinstance(external, str) and external:
            identifiers.append({"name": "contactId", "value": external})
        event_id = rec.get("id")
        head = [_attr("eventId", event_id if isinstance(event_id, str) else None),
                _attr("brazeEventType", event_type)]
        trace = [_attr(name, rec[field]) for field, name in TRACE_FIELDS.items()
                 if isinstance(rec.get(field), str) and rec[field]]
        present = [a for a in head + attrs + trace if a["value"] is not None]
        event = {"code": code, "timestamp": iso_seconds(time), "attributes": present}
        return {"channel": "SMS", "identifiers": identifiers, "events": [event]}
