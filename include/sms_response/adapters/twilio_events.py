"""Twilio Event Streams CloudEvents, read from the receiver's partition lines into typed events.

The three kinds the adapter imports (schemas as published by Twilio):

* ``com.twilio.messaging.message.{queued,sent,delivered,undelivered,failed,read}``, schema
  ``Messaging.MessageStatus``: ``messageSid, timestamp, accountSid, from, to, messageStatus,
  messagingServiceSid, errorCode, body, tags, mcc, mnc, rawDlrDoneDate, numberOfSegments, dateUpdated``;
* ``com.twilio.messaging.inbound-message.received``, schema ``Messaging.InboundMessageV1``: ``messageSid,
  timestamp, from, to, body, messagingServiceSid, optOutType, numMedia, …``;
* ``com.twilio.daptbt.link-shortening.link-clicked``, schema ``DapTbt.LinkClicked``: ``message_sid, to,
  from, messaging_service_sid, link, shortened_link, link_create_time, click_time, user_agent``.

Quirks handled here: ``errorCode`` arrives as an integer or as a string (``"30003"``, ``""``);
``rawDlrDoneDate`` is the carrier's ``YYMMDDhhmm`` without a time zone, so it is kept verbatim and never
read as an instant; a status event's status is its CloudEvent ``type`` (``messageStatus`` is kept in the
history as sent, since its case and value are not reliable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sms_response.adapters.twilio_store import StoredLine, parse_aware

STATUS_PREFIX = "com.twilio.messaging.message."
INBOUND_TYPE = "com.twilio.messaging.inbound-message.received"
CLICK_TYPE = "com.twilio.daptbt.link-shortening.link-clicked"
# Lifecycle rank: a later stage outranks an earlier one at the same instant.
STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
               "failed": 4, "undelivered": 4, "delivered": 5, "read": 6}
TERMINAL = frozenset({"delivered", "undelivered", "failed", "read"})


class BadEvent(ValueError):
    """A line of a supported type that cannot be read; the record is quarantined with this reason."""


@dataclass(frozen=True)
class Line:
    """One accepted delivery: its CloudEvent id, the instant it is filed under, where it is."""

    ce_id: str
    filed_at: datetime
    position: str


@dataclass(frozen=True)
class StatusEvent:
    line: Line
    message_sid: str
    status: str  # from the CloudEvent type: queued, sent, delivered, undelivered, failed, read
    at: datetime  # data.timestamp, else the filing time
    data: dict[str, Any] = field(repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def order(self) -> tuple[datetime, int, str]:
        return (self.at, STATUS_RANK.get(self.status, 0), self.line.ce_id)


@dataclass(frozen=True)
class InboundEvent:
    line: Line
    message_sid: str
    at: datetime
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ClickEvent:
    line: Line
    at: datetime
    data: dict[str, Any] = field(repr=False)


TwilioEvent = StatusEvent | InboundEvent | ClickEvent


def supported(event_type: str) -> bool:
    return event_type in (INBOUND_TYPE, CLICK_TYPE) or (
        event_type.startswith(STATUS_PREFIX) and event_type.removeprefix(STATUS_PREFIX) in STATUS_RANK
    )


def read_event(stored: StoredLine) -> TwilioEvent | None:
    """The typed event of a line; None for event types the adapter does not import; BadEvent when unreadable."""
    if stored.doc is None:
        raise BadEvent("partition line is not a stored CloudEvent (unreadable JSON)")
    event = stored.doc["event"]
    event_type = event.get("type")
    if not isinstance(event_type, str) or not supported(event_type):
        return None
    ce_id = event.get("id")
    data = event.get("data")
    if not isinstance(ce_id, str | int) or isinstance(ce_id, bool) or not str(ce_id).strip():
        raise BadEvent(f"{event_type} event without an id")
    if not isinstance(data, dict):
        raise BadEvent(f"{event_type} event {ce_id} has no data object")
    line = Line(str(ce_id).strip(), stored.time, stored.position)
    if event_type == CLICK_TYPE:
        return ClickEvent(line, parse_aware(data.get("click_time")) or stored.time, data)
    sid = data.get("messageSid")
    if not isinstance(sid, str) or not sid.strip():
        raise BadEvent(f"{event_type} event {ce_id} has no messageSid")
    at = parse_aware(data.get("timestamp")) or stored.time
    if event_type == INBOUND_TYPE:
        return InboundEvent(line, sid.strip(), at, data)
    return StatusEvent(line, sid.strip(), event_type.removeprefix(STATUS_PREFIX), at, data)


def error_code(value: Any) -> int | None:
    """``errorCode`` as an integer: it arrives as a number, a numeric string, an empty string or null."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadEvent(f"errorCode {text[:20]!r} is not a number") from None


def text(data: dict[str, Any], key: str) -> str | None:
    """A string field, stripped; numbers are rendered as text; empty and missing are None."""
    value = data.get(key)
    if isinstance(value, bool) or value is None:
        return None
    out = str(value).strip() if isinstance(value, str | int | float) else None
    return out or None


def segments(value: Any) -> int | None:
    """``numberOfSegments`` (an integer, sometimes sent as a string)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        return None
    return n if n > 0 else None


def link_token(shortened_link: str | None) -> str | None:
    """The token of a shortened link: its last path segment (``https://sho.rt/AbC123`` → ``AbC123``)."""
    if not shortened_link:
        return None
    path = shortened_link.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    token = path.rsplit("/", 1)[-1]
    return token if token and "." not in token and ":" not in token else None
