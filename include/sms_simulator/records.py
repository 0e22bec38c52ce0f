"""What the platform publishes: campaign entities, the records of its event log and their envelopes.

A record is one envelope as the platform serialises it: an original, a re-delivered duplicate, or a
deliberately malformed copy of a real event (with its own eventId; the real event is still
published intact, so the behavioural ground truth stays reachable for a pipeline that quarantines
bad input).  ``Entry`` is what the platform state needs of any record, generated or pushed.

Envelopes are rendered lazily from compact records because a 100k-recipient campaign holds ~0.5M
records and dict-based envelopes would cost gigabytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from .clock import from_us, iso
from .config import SimulatorConfig
from .vocabulary import (
    BAD_TIMESTAMPS,
    INTERACTED,
    LINK_BASE,
    SENT,
    UNPARSEABLE_PHONES,
    is_opt_out_event,
    landing_url,
    sms_parts,
)

RecordStatus = Literal["original", "duplicate", "malformed"]


@dataclass(frozen=True, slots=True)
class Mailing:
    index: int
    name: str
    process_box: str
    scheduled_us: int
    template: str


@dataclass(frozen=True, slots=True)
class Recipient:
    index: int
    contact_id: str
    e164: str  # canonical number, ground truth
    display_phone: str  # how the platform stores and emits it
    region: str
    carrier: str
    render_offset: int  # minutes
    hard_failure_code: int | None


@dataclass(slots=True)
class Event:
    """One true platform event (also used as the event summary of published envelopes)."""

    event_id: str
    code: str
    recipient: int
    mailing_index: int
    mailing: str
    at_us: int
    delivery_status: str | None = None
    status_code: int = 0
    interaction: str | None = None
    text: str | None = None  # reply/opt-out/opt-in body, or action name
    keyword: str | None = None
    value: str | None = None  # conversion value, pre-formatted
    link_token: str | None = None
    after_opt_out: bool = False  # the deliberate "click after opt-out" noise

    @property
    def is_opt_out(self) -> bool:
        return is_opt_out_event(self.code, self.interaction, self.keyword)


@dataclass(frozen=True, slots=True)
class Fact:
    """One published event as the platform knows it: the event, whose it is and, for a message, what was sent.

    The campaign metrics truth (``metrics_truth``) is computed from these, never from rendered envelopes.
    """

    event: Event
    phone: str  # E.164
    campaign_code: str | None = None  # sentSMS
    body: str | None = None  # sentSMS: the message body
    parts: int = 1  # sentSMS: the message parts the platform published
    variant: str | None = None  # sentSMS of a wave variant
    url: str | None = None  # click / conversion: the url the event carries


class Entry(Protocol):
    """What the platform state needs from a published record."""

    @property
    def status(self) -> RecordStatus: ...
    @property
    def malformed_kind(self) -> str | None: ...
    @property
    def long_lag(self) -> bool: ...
    @property
    def events(self) -> tuple[Event, ...]: ...
    @property
    def filter_codes(self) -> frozenset[str]: ...
    @property
    def filter_mailing(self) -> str | None: ...
    def to_json(self) -> str: ...
    def facts(self) -> tuple[Fact, ...]: ...


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def record_count(entry: Entry) -> int:
    """Records an envelope stands for: k for k events, 1 if events can't be enumerated."""
    if entry.status == "malformed":
        return 1
    return max(1, len(entry.events))


@dataclass(slots=True)
class ModelRecord:
    campaign: Campaign = field(repr=False)
    status: RecordStatus
    events: tuple[Event, ...]
    long_lag: bool = False
    malformed_kind: str | None = None
    variant: int = 0
    malformed_event_id: str | None = None

    @property
    def filter_codes(self) -> frozenset[str]:
        # Filters act on what the platform indexed, so a broken serialisation still
        # travels with the code/mailing of the event it was derived from.
        if self.malformed_kind == "unknown_code":
            return frozenset({"viewedSMS"})
        if self.malformed_kind == "invalid_interaction_type":
            return frozenset({INTERACTED})
        return frozenset(e.code for e in self.events)

    @property
    def filter_mailing(self) -> str | None:
        return self.events[0].mailing if self.events else None

    def to_json(self) -> str:
        return dumps(self.campaign.render(self))

    def facts(self) -> tuple[Fact, ...]:
        return tuple(self.campaign.fact(e) for e in self.events)


def str_attr(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value, "type": "string"}


def num_attr(name: str, value: str) -> dict[str, str]:
    # The platform ships every value as a string and marks numbers by type.
    return {"name": name, "value": value, "type": "number"}


def interaction_attributes(e: Event, url: str) -> list[dict[str, str]]:
    """Attributes of an interactedSMS event after eventId/mailingName; ``url`` is the clicked link."""
    attrs = [str_attr("interactionType", e.interaction or "")]
    if e.interaction in ("click", "conversion"):
        attrs.append(str_attr("url", url))
        if e.link_token is not None:  # a conversion in the web shop came through no link
            attrs.append(str_attr("linkToken", e.link_token))
        if e.value is not None:
            attrs.append(num_attr("value", e.value))
    elif e.interaction == "reply":
        attrs += [str_attr("messageBody", e.text or ""), str_attr("keyword", e.keyword or "")]
    elif e.interaction == "action":
        attrs.append(str_attr("actionName", e.text or ""))
    elif e.interaction in ("opt_out", "opt_in"):
        attrs += [str_attr("keyword", e.keyword or ""), str_attr("messageBody", e.text or "")]
    return attrs


@dataclass(slots=True)
class RecipientHistory:
    """Per-recipient ground truth, kept alongside the published records."""

    events: list[Event]  # valid events in time order (sends and interactions)
    opt_periods: list[tuple[int, int | None]]  # [opt_out_us, opt_in_us) intervals
    suppressed: list[int]  # mailing indexes skipped because the recipient was opted out


def opted_out_at(periods: Sequence[tuple[int, int | None]], t: int) -> bool:
    """Whether ``t`` falls in one of the ``[opt_out_us, opt_in_us)`` periods."""
    return any(start <= t and (end is None or t < end) for start, end in periods)


@dataclass
class Campaign:
    """The generated world: mailings, recipients, their true histories and the published records.

    Built by ``build.build_campaign``; the ground truth over it is computed in ``truth``.
    """

    config: SimulatorConfig
    mailings: tuple[Mailing, ...]
    recipients: tuple[Recipient, ...]
    histories: list[RecipientHistory]
    records: list[ModelRecord]  # sorted by publication time, stable
    published_us: list[int]  # parallel to ``records``
    program_id: str
    program_name: str

    # -- rendering ---------------------------------------------------------

    def message_body(self, mailing: Mailing, link_token: str) -> str:
        return mailing.template.format(url=LINK_BASE + link_token)

    def fact(self, e: Event) -> Fact:
        """What the platform knows of one of the campaign's events (as its envelope says it)."""
        phone = self.recipients[e.recipient].e164
        if e.code == SENT:
            body = self.message_body(self.mailings[e.mailing_index], e.link_token or "")
            return Fact(e, phone, self.config.campaign_code, body, sms_parts(body))
        if e.interaction in ("click", "conversion"):
            return Fact(e, phone, url=landing_url(e.mailing))
        return Fact(e, phone)

    def _attributes(self, e: Event) -> list[dict[str, str]]:
        s, n = str_attr, num_attr
        attrs = [s("eventId", e.event_id), s("mailingName", e.mailing)]
        if e.code == SENT:
            mailing = self.mailings[e.mailing_index]
            body = self.message_body(mailing, e.link_token or "")
            attrs += [
                s("campaignCode", self.config.campaign_code),
                s("programId", self.program_id),
                s("programName", self.program_name),
                s("deliveryStatus", e.delivery_status or ""),
                n("statusCode", str(e.status_code)),
                s("messageBody", body),
                n("messageParts", str(sms_parts(body))),
                s("carrierNetwork", self.recipients[e.recipient].carrier),
            ]
            return attrs
        return attrs + interaction_attributes(e, landing_url(e.mailing))

    def _event_obj(self, e: Event, event_id: str | None = None) -> dict[str, Any]:
        recipient = self.recipients[e.recipient]
        attrs = self._attributes(e)
        if event_id is not None:
            attrs[0] = {"name": "eventId", "value": event_id, "type": "string"}
        return {"code": e.code, "timestamp": iso(e.at_us, recipient.render_offset), "attributes": attrs}

    def _identifiers(self, recipient: Recipient) -> list[dict[str, str]]:
        return [
            {"name": "phoneNumber", "value": recipient.display_phone},
            {"name": "contactId", "value": recipient.contact_id},
        ]

    def render(self, record: ModelRecord) -> Any:
        """The envelope as the platform would serialise it (usually a dict)."""
        recipient = self.recipients[record.events[0].recipient]
        if record.status != "malformed":
            return {
                "channel": "SMS",
                "identifiers": self._identifiers(recipient),
                "events": [self._event_obj(e) for e in record.events],
            }
        return self._render_malformed(record, recipient)

    def _render_malformed(self, record: ModelRecord, recipient: Recipient) -> Any:
        source = record.events[0]
        kind = record.malformed_kind
        variant = record.variant
        event = self._event_obj(source, record.malformed_event_id)
        identifiers = self._identifiers(recipient)
        attrs: list[dict[str, str]] = event["attributes"]
        if kind == "missing_phone":
            identifiers = identifiers[1:]
        elif kind == "unparseable_phone":
            identifiers[0]["value"] = UNPARSEABLE_PHONES[variant % len(UNPARSEABLE_PHONES)]
        elif kind == "bad_timestamp":
            event["timestamp"] = BAD_TIMESTAMPS[variant % len(BAD_TIMESTAMPS)]
        elif kind == "naive_timestamp":
            event["timestamp"] = from_us(source.at_us).replace(tzinfo=None).isoformat(timespec="milliseconds")
        elif kind == "missing_event_id":
            event["attributes"] = [a for a in attrs if a["name"] != "eventId"]
        elif kind == "missing_mailing_name":
            event["attributes"] = [a for a in attrs if a["name"] != "mailingName"]
        elif kind == "unknown_code":
            event["code"] = "viewedSMS"
        elif kind == "invalid_interaction_type":
            event["code"] = INTERACTED
            event["attributes"] = [
                attrs[0],
                attrs[1],
                {"name": "interactionType", "value": "swiped", "type": "string"},
            ]
        elif kind == "attributes_not_list":
            event["attributes"] = {a["name"]: a["value"] for a in attrs}
        envelope: dict[str, Any] = {"channel": "SMS", "identifiers": identifiers, "events": [event]}
        if kind == "events_not_list":
            envelope["events"] = event
        elif kind == "envelope_not_object":
            return dumps(envelope) if variant % 2 == 0 else [envelope]
        return envelope

    def envelopes(self) -> list[tuple[datetime, Any]]:
        """Every published record in publication order (handy for tests)."""
        return [(from_us(p), self.render(r)) for p, r in zip(self.published_us, self.records, strict=True)]

    def mailing_names(self) -> list[str]:
        return [m.name for m in self.mailings]
