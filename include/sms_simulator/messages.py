"""Batch-send messages: what a client asks the platform to send, and what the platform records of it.

A ``MessageRequest`` is one validated entry of a ``POST /v1/messages/batch`` body.  A ``SentMessage``
is an accepted one: its delivery outcome, the interactions recorded for it, and the envelopes it is
published as (a ``sentSMS`` event at the send, an ``interactedSMS`` event per interaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clock import iso
from .errors import PushError
from .links import Link, parse_links
from .records import Event, Fact, interaction_attributes, num_attr, str_attr
from .truth import RESPONSE_WINDOW_US
from .vocabulary import INTERACTED, RESPONSE_TYPES, SENT


@dataclass(frozen=True)
class MessageRequest:
    """One validated entry of a batch-send body."""

    idempotency_key: str
    phone: str
    mailing_name: str
    body: str
    campaign_code: str | None = None
    message_parts: int | None = None
    variant: str | None = None
    links: tuple[Link, ...] = ()

    @property
    def content(self) -> tuple[Any, ...]:
        """What must match for a reused idempotency key to count as the same message."""
        return (self.phone, self.mailing_name, self.body, self.campaign_code, self.message_parts, self.variant,
                self.links)

    @classmethod
    def parse(cls, m: Any) -> MessageRequest:
        required = ("idempotency_key", "phone", "mailing_name", "body")
        if not isinstance(m, dict) or not all(isinstance(m.get(k), str) and m.get(k) for k in required):
            raise PushError("each message needs idempotency_key, phone, mailing_name and body (strings)")
        for name in ("campaign_code", "variant"):
            if m.get(name) is not None and not (isinstance(m[name], str) and m[name]):
                raise PushError(f"{name} must be a non-empty string when given")
        parts = m.get("message_parts")
        if parts is not None and (not isinstance(parts, int) or isinstance(parts, bool) or parts < 1):
            raise PushError("message_parts must be a positive integer when given")
        return cls(m["idempotency_key"], m["phone"], m["mailing_name"], m["body"], m.get("campaign_code"), parts,
                   m.get("variant"), parse_links(m.get("links")))


@dataclass(frozen=True)
class Interaction:
    """An interactedSMS event the platform recorded for a message, with the url it carries (if any)."""

    event: Event
    url: str = ""


@dataclass
class SentMessage:
    """An accepted message: its delivery outcome and the interactions recorded for it (they only grow)."""

    message_id: str
    idempotency_key: str
    phone: str  # E.164
    request: MessageRequest
    send_us: int
    delivered: bool
    status_code: int
    interactions: list[Interaction] = field(default_factory=list)
    redirects: int = 0

    @property
    def mailing_name(self) -> str:
        return self.request.mailing_name

    def is_responder(self) -> bool:
        """A click/conversion/action/non-STOP reply within 72 h of the send and before an opt-out of it."""
        if not self.delivered:
            return False
        deadline = self.send_us + RESPONSE_WINDOW_US
        opt_out = self.opt_out_us()
        if opt_out is not None:
            deadline = min(deadline, opt_out)
        return any(
            e.interaction in RESPONSE_TYPES and not e.is_opt_out and self.send_us <= e.at_us < deadline
            for e in (i.event for i in self.interactions)
        )

    def opt_out_us(self) -> int | None:
        return min((i.event.at_us for i in self.interactions if i.event.is_opt_out), default=None)

    def has(self, interaction: str) -> bool:
        return any(i.event.interaction == interaction for i in self.interactions)

    def link_event(
        self, kind: str, token: str, url: str, at_us: int, event_id: str, value: str | None = None
    ) -> Interaction:
        """The one click path (redirects and the model): record a click/conversion on a link."""
        event = Event(event_id, INTERACTED, -1, -1, self.mailing_name, at_us, interaction=kind, link_token=token,
                      value=value)
        interaction = Interaction(event, url)
        self.interactions.append(interaction)
        return interaction

    @property
    def campaign_code(self) -> str:
        return self.request.campaign_code or self.request.mailing_name.split("_", 1)[0]

    def sent_envelope(self) -> dict[str, Any]:
        req = self.request
        failed = not self.delivered
        attrs = [
            str_attr("eventId", f"sent-{self.message_id}"),
            str_attr("mailingName", req.mailing_name),
            str_attr("campaignCode", self.campaign_code),
            str_attr("deliveryStatus", "failed" if failed else "delivered"),
            num_attr("statusCode", str(self.status_code)),
            str_attr("messageBody", req.body),
            num_attr("messageParts", str(req.message_parts or 1)),
        ]
        if req.variant is not None:
            attrs.append(str_attr("variant", req.variant))
        return _envelope(self.phone, SENT, self.send_us, attrs)

    def sent_fact(self) -> Fact:
        """The sentSMS event as the platform knows it (``sent_envelope`` renders the same)."""
        req = self.request
        event = Event(f"sent-{self.message_id}", SENT, -1, -1, req.mailing_name, self.send_us,
                      delivery_status="delivered" if self.delivered else "failed", status_code=self.status_code)
        return Fact(event, self.phone, self.campaign_code, req.body, req.message_parts or 1, req.variant)

    def interaction_envelope(self, interaction: Interaction) -> dict[str, Any]:
        return interaction_envelope(self.phone, interaction)


def interaction_envelope(phone: str, interaction: Interaction) -> dict[str, Any]:
    """An interactedSMS envelope of ``phone`` (E.164) for the event the interaction carries."""
    e = interaction.event
    attrs = [str_attr("eventId", e.event_id), str_attr("mailingName", e.mailing),
             *interaction_attributes(e, interaction.url)]
    return _envelope(phone, INTERACTED, e.at_us, attrs)


def interaction_fact(phone: str, interaction: Interaction) -> Fact:
    e = interaction.event
    return Fact(e, phone, url=interaction.url if e.interaction in ("click", "conversion") else None)


def _envelope(phone: str, code: str, at_us: int, attributes: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "channel": "SMS",
        "identifiers": [{"name": "phoneNumber", "value": phone}],
        "events": [{"code": code, "timestamp": iso(at_us), "attributes": attributes}],
    }
