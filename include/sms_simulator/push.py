"""The platform's push side: contact update imports and batch sends (exactly-once by idempotency key).

Modelled on Listrak's ContactImport (base64 CSV + column mappings, 201 + resource id, status polled
until Completed; phones the platform does not know are dropped silently, custom fields must exist)
and a batch send endpoint with per-message idempotency keys. Every accepted message becomes a
``sentSMS`` event in the event log, published at the simulator's clock, so the loop closes; the
ledger counts messages per phone per mailing so tests can prove exactly-once.

Each accepted message also gets a delivery outcome and, when delivered, the recipient's reaction
(clicks, conversions, replies, actions, opt-outs) drawn by ``WaveBehaviour`` from a random stream
seeded by (seed, mailing name, phone) only, so a retried or resumed send produces the very same
events. Reactions are published as ``interactedSMS`` events at their own (future) timestamps.

Links a message carries are registered as short links: ``click()`` (``GET /r/{token}``) answers
with the target and records a click; the model's clicks go through the same ``_link_event``.

A send gate (``arm_send_gate``) lets a test freeze a batch half way, as if the client died while
the platform was still working through its request.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import math
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from .model import (
    INTERACTED,
    RESPONSE_TYPES,
    RESPONSE_WINDOW_US,
    SENT,
    US_PER_MS,
    Event,
    Mailing,
    SimulatorConfig,
    _Generator,
    from_us,
    interaction_attributes,
    iso,
    num_attr,
    str_attr,
    to_us,
)
from .state import PlatformState

SYSTEM_FIELDS = ("phone", "email", "first_name", "last_name", "postal_code", "birthday")
DEFAULT_CUSTOM_FIELDS = ("loyalty_tier", "preferred_store")
FAILED_STATUS_CODE = 30006
MAX_LIFTED_CLICK_RATE = 0.95
DEFAULT_PUBLIC_BASE = "http://127.0.0.1"
# Short-link tokens end up in a URL path: keep them to unreserved characters.
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_BODY_URL_RE = re.compile(r"https?://[^\s<>\"']+")

class PushError(ValueError):
    """A request the platform refuses (400 with this message)."""


def _e164(raw: str) -> str | None:
    try:
        num = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return str(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))


@dataclass
class ContactImport:
    resource_id: str
    updated: list[str]
    dropped_unknown: list[str]
    polls: int = 0

    def status(self) -> dict[str, Any]:
        # Real imports are asynchronous: the first poll sees Processing, later ones Completed.
        self.polls += 1
        state = "Processing" if self.polls == 1 else "Completed"
        body: dict[str, Any] = {"resource_id": self.resource_id, "status": state}
        if state == "Completed":
            body.update(updated=len(self.updated), dropped_unknown=sorted(self.dropped_unknown))
        return body


# ---------------------------------------------------------------------------------------------
# Behaviour of wave sends
# ---------------------------------------------------------------------------------------------

_RATE_FIELDS = (
    "click_rate",
    "repeat_click_rate",
    "conversion_rate",
    "conversion_value_share",
    "reply_rate",
    "action_rate",
    "opt_out_rate",
    "stop_reply_share",
    "failure_rate",
)


def _is_number(value: Any) -> bool:
    # bool is an int subclass; "true" as a rate is a client bug, not 1.0.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class WaveDraw:
    """What one accepted send leads to, before the phone's earlier opt-outs are applied."""

    delivered: bool
    status_code: int
    events: tuple[Event, ...]  # interactions in time order, none after the send's own opt-out


@dataclass(frozen=True)
class WaveBehaviour:
    """How recipients react to a wave send; rates are probabilities in [0, 1].

    ``conversion_rate`` and ``repeat_click_rate`` are shares of clickers; ``stop_reply_share`` is
    the share of opt-outs that arrive as a STOP-family reply (the rest as interactionType opt_out).
    ``variant_lift`` multiplies ``click_rate`` for messages of that variant (capped at 0.95).
    Response delays are exponential with mean ``response_delay_mean_s``, between 5 s and
    ``response_delay_cap_s`` (repeat clicks and conversions are delayed from their click).
    """

    click_rate: float = 0.30
    repeat_click_rate: float = 0.10
    conversion_rate: float = 0.35
    conversion_value_share: float = 0.7
    reply_rate: float = 0.06
    action_rate: float = 0.04
    opt_out_rate: float = 0.04
    stop_reply_share: float = 0.5
    failure_rate: float = 0.04
    response_delay_mean_s: float = 600.0
    response_delay_cap_s: float = 3000.0
    variant_lift: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    _generators: dict[float, _Generator] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number within [0, 1], got {value!r}")
        if not _is_number(self.response_delay_mean_s) or self.response_delay_mean_s <= 0:
            raise ValueError("response_delay_mean_s must be > 0")
        if not _is_number(self.response_delay_cap_s) or self.response_delay_cap_s < 5:
            raise ValueError("response_delay_cap_s must be >= 5")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError("seed must be an integer")
        if not isinstance(self.variant_lift, Mapping):
            raise ValueError("variant_lift must be an object of variant -> multiplier")
        lift: dict[str, float] = {}
        for variant, factor in self.variant_lift.items():
            if not isinstance(variant, str) or not _is_number(factor) or factor < 0:
                raise ValueError(f"variant_lift needs string variants and multipliers >= 0: {variant!r}: {factor!r}")
            lift[variant] = float(factor)
        object.__setattr__(self, "variant_lift", lift)

    def click_rate_for(self, variant: str | None) -> float:
        if variant is None or variant not in self.variant_lift:
            return self.click_rate
        return min(MAX_LIFTED_CLICK_RATE, self.click_rate * self.variant_lift[variant])

    def _generator(self, click_rate: float) -> _Generator:
        gen = self._generators.get(click_rate)
        if gen is None:
            # The campaign model's per-send response code, fed with this behaviour's rates.
            config = SimulatorConfig(
                seed=self.seed,
                recipients=0,
                mailings=0,
                failure_rate=self.failure_rate,
                click_rate=click_rate,
                repeat_click_rate=self.repeat_click_rate,
                conversion_rate=self.conversion_rate,
                conversion_value_share=self.conversion_value_share,
                reply_rate=self.reply_rate,
                action_rate=self.action_rate,
                opt_out_rate=self.opt_out_rate,
                stop_reply_share=self.stop_reply_share,
                opt_in_rate=0.0,
                click_after_opt_out_rate=0.0,
                response_delay_mean=timedelta(seconds=self.response_delay_mean_s),
                response_delay_cap=timedelta(seconds=self.response_delay_cap_s),
            )
            gen = self._generators.setdefault(click_rate, _Generator(config))
        return gen

    def rng(self, mailing_name: str, phone: str) -> Random:
        # str seeds are hashed with SHA-512: stable across processes, unlike hash().
        return Random(f"wave|{self.seed}|{mailing_name}|{phone}")

    def draw(self, mailing_name: str, phone: str, variant: str | None, send_us: int) -> WaveDraw:
        """Delivery and reactions for one send; depends on nothing but the arguments."""
        rng = self.rng(mailing_name, phone)
        if rng.random() < self.failure_rate:
            return WaveDraw(False, FAILED_STATUS_CODE, ())
        mailing = Mailing(-1, mailing_name, "", send_us, "")
        events, candidate = self._generator(self.click_rate_for(variant)).responses(rng, -1, mailing, send_us, "")
        if candidate is not None:
            # Nothing happens after the opt-out (opt-ins and clicks-after are off for waves).
            events = [e for e in events if e.at_us < candidate.at_us] + [candidate.opt_out]
        events.sort(key=lambda e: e.at_us)
        return WaveDraw(True, 0, tuple(events))

    def to_json(self) -> dict[str, Any]:
        return {f.name: (dict(self.variant_lift) if f.name == "variant_lift" else getattr(self, f.name))
                for f in fields(self) if f.init}

    def updated(self, changes: Mapping[str, Any]) -> WaveBehaviour:
        """A copy with ``changes`` applied, type-checked as they arrive from JSON."""
        names = {f.name for f in fields(self) if f.init}
        for name in changes:
            if name not in names:
                raise ValueError(f"unknown wave setting {name!r}")
        coerced: dict[str, Any] = dict(changes)
        for name, value in changes.items():
            if name == "seed":
                if not _is_number(value) or float(value) != int(value):
                    raise ValueError("seed must be an integer")
                coerced[name] = int(value)
            elif name != "variant_lift":
                if not _is_number(value):
                    raise ValueError(f"{name} must be a number")
                coerced[name] = float(value)
        return replace(self, **coerced)


# ---------------------------------------------------------------------------------------------
# Sent messages
# ---------------------------------------------------------------------------------------------


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
    links: tuple[tuple[str, str], ...] = ()

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
                   m.get("variant"), _parse_links(m.get("links")))


def _parse_links(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PushError("links must be a list of {token, url}")
    links: list[tuple[str, str]] = []
    for link in raw:
        token = link.get("token") if isinstance(link, dict) else None
        url = link.get("url") if isinstance(link, dict) else None
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise PushError(f"link token must be 1-128 characters of [A-Za-z0-9._~-], got {token!r}")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise PushError(f"link url must be an absolute http(s) URL, got {url!r}")
        if any(t == token for t, _ in links):
            raise PushError(f"link token {token!r} appears twice in one message")
        links.append((token, url))
    return tuple(links)


def body_link(body: str) -> tuple[str, str] | None:
    """(linkToken, url) of the first http(s) URL in a message body; the token is its last path segment."""
    match = _BODY_URL_RE.search(body)
    if match is None:
        return None
    url = match.group(0).rstrip(".,;:!?)]}")
    parts = urlsplit(url)
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return (segment or parts.netloc), url


@dataclass(frozen=True)
class Interaction:
    """An interactedSMS event the platform recorded for a message, with the url it carries (if any)."""

    event: Event
    url: str = ""


@dataclass
class SentMessage:
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


@dataclass
class _Gate:
    block_after: int
    accepted: int = 0
    waiting: int = 0
    release: threading.Event = field(default_factory=threading.Event)


def _floor_ms(us: int) -> int:
    return us // US_PER_MS * US_PER_MS


def _envelope(phone: str, code: str, at_us: int, attributes: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "channel": "SMS",
        "identifiers": [{"name": "phoneNumber", "value": phone}],
        "events": [{"code": code, "timestamp": iso(at_us), "attributes": attributes}],
    }


# ---------------------------------------------------------------------------------------------
# Platform state of the push side
# ---------------------------------------------------------------------------------------------


@dataclass
class PushState:
    state: PlatformState
    custom_fields: tuple[str, ...] = DEFAULT_CUSTOM_FIELDS
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    behaviour: WaveBehaviour = field(default_factory=WaveBehaviour)
    # Base of short links for sends made without a request to take it from (the Python API).
    public_base: str = DEFAULT_PUBLIC_BASE
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _imports: dict[str, ContactImport] = field(default_factory=dict, repr=False)
    _profiles: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _ledger: dict[str, tuple[tuple[Any, ...], str]] = field(default_factory=dict, repr=False)
    _counts: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)
    _messages: dict[str, SentMessage] = field(default_factory=dict, repr=False)
    _by_mailing: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _tokens: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)  # token -> (message_id, target)
    _opt_outs: dict[str, int] = field(default_factory=dict, repr=False)  # phone -> earliest opt-out (us)
    _gate: _Gate | None = field(default=None, repr=False)
    _gate_last_accepted: int = field(default=0, repr=False)
    _gate_changed: threading.Condition = field(init=False, repr=False)
    _in_flight: int = field(default=0, repr=False)  # batches being processed (a released one finishes later)

    def __post_init__(self) -> None:
        self._gate_changed = threading.Condition(self._lock)

    def known_phones(self) -> set[str]:
        return {c.e164 for c in self.state.contacts() if c.e164}

    # -- contact update import ---------------------------------------------------------------

    def start_import(self, body: Mapping[str, Any]) -> str:
        if body.get("import_type", "UpdateSubscribers") != "UpdateSubscribers":
            raise PushError("import_type must be UpdateSubscribers")
        try:
            text = base64.b64decode(str(body.get("file_stream", "")), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise PushError(f"file_stream is not base64 UTF-8 CSV: {exc}") from None
        mappings = body.get("column_mappings")
        if not isinstance(mappings, list) or not mappings:
            raise PushError("column_mappings must be a non-empty list")
        columns: dict[int, str] = {}
        for m in mappings:
            valid = isinstance(m, dict) and isinstance(m.get("column_index"), int) and isinstance(m.get("field"), str)
            if not valid:
                raise PushError("each column mapping needs column_index (int) and field (str)")
            name = m["field"]
            if name.startswith("custom:"):
                if name[7:] not in self.custom_fields:
                    raise PushError(f"unknown custom field {name[7:]!r}; known: {', '.join(self.custom_fields)}")
            elif name not in SYSTEM_FIELDS:
                raise PushError(f"unknown field {name!r}")
            columns[m["column_index"]] = name
        if "phone" not in columns.values():
            raise PushError("a phone column mapping is required")
        rows = list(csv.reader(io.StringIO(text)))
        if body.get("has_header", True):
            rows = rows[1:]
        known = self.known_phones()
        updated: list[str] = []
        dropped: list[str] = []
        phone_col = next(i for i, f in columns.items() if f == "phone")
        for row in rows:
            if phone_col >= len(row):
                continue
            e164 = _e164(row[phone_col])
            if e164 is None or e164 not in known:
                dropped.append(row[phone_col])
                continue
            updated.append(e164)
            with self._lock:
                profile = self._profiles.setdefault(e164, {})
                profile.update({f: row[i] for i, f in columns.items() if i < len(row) and f != "phone"})
        rid = f"imp-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._imports[rid] = ContactImport(rid, updated, dropped)
        return rid

    def import_status(self, resource_id: str) -> dict[str, Any] | None:
        with self._lock:
            imp = self._imports.get(resource_id)
            return imp.status() if imp else None

    def profile(self, e164: str) -> dict[str, str]:
        with self._lock:
            return dict(self._profiles.get(e164, {}))

    # -- batch send -----------------------------------------------------------------------------

    def send_batch(self, messages: Any, base_url: str | None = None) -> list[dict[str, Any]]:
        """Send ``messages``; ``base_url`` is the platform's public base for short links."""
        if not isinstance(messages, list) or not messages:
            raise PushError("messages must be a non-empty list")
        requests = [MessageRequest.parse(m) for m in messages]  # all or nothing on a malformed body
        known = self.known_phones()
        base = (base_url or self.public_base).rstrip("/")
        results = []
        with self._lock:
            self._in_flight += 1
        try:
            for req in requests:
                self._pass_send_gate()
                results.append(self._send_one(req, known, base))
        finally:
            with self._lock:
                self._in_flight -= 1
                self._gate_changed.notify_all()
        return results

    def _send_one(self, req: MessageRequest, known: set[str], base: str) -> dict[str, Any]:
        key = req.idempotency_key
        with self._lock:
            prior = self._ledger.get(key)
            if prior is not None:
                if prior[0] != req.content:
                    return {"idempotency_key": key, "status": "rejected",
                            "reason": "idempotency key reused with different content"}
                return {"idempotency_key": key, "status": "duplicate", "message_id": prior[1]}
            e164 = _e164(req.phone)
            if e164 is None or e164 not in known:
                return {"idempotency_key": key, "status": "rejected", "reason": "unknown number"}
            message_id = "m-" + hashlib.sha256(key.encode()).hexdigest()[:16]
            taken = [t for t, _ in req.links if t in self._tokens and self._tokens[t][0] != message_id]
            if taken:
                return {"idempotency_key": key, "status": "rejected",
                        "reason": f"link token {taken[0]!r} already belongs to another message"}
            send_us = _floor_ms(to_us(self.clock()))
            draw = self.behaviour.draw(req.mailing_name, e164, req.variant, send_us)
            msg = SentMessage(message_id, key, e164, req, send_us, draw.delivered, draw.status_code)
            self._ledger[key] = (req.content, message_id)
            self._messages[message_id] = msg
            self._by_mailing.setdefault(req.mailing_name, []).append(message_id)
            for token, target in req.links:
                self._tokens[token] = (message_id, target)
            self._counts[(req.mailing_name, e164)] += 1
            if self._gate is not None:
                self._gate.accepted += 1
            interactions = self._model_interactions(msg, draw, base)
        self.state.publish(self._sent_envelope(msg), from_us(send_us))
        for interaction in interactions:
            self._publish_interaction(msg, interaction)
        return {"idempotency_key": key, "status": "accepted", "message_id": message_id}

    def _sent_envelope(self, msg: SentMessage) -> dict[str, Any]:
        req = msg.request
        failed = not msg.delivered
        attrs = [
            str_attr("eventId", f"sent-{msg.message_id}"),
            str_attr("mailingName", req.mailing_name),
            str_attr("campaignCode", req.campaign_code or req.mailing_name.split("_", 1)[0]),
            str_attr("deliveryStatus", "failed" if failed else "delivered"),
            num_attr("statusCode", str(msg.status_code)),
            str_attr("messageBody", req.body),
            num_attr("messageParts", str(req.message_parts or 1)),
        ]
        if req.variant is not None:
            attrs.append(str_attr("variant", req.variant))
        return _envelope(msg.phone, SENT, msg.send_us, attrs)

    def _model_interactions(self, msg: SentMessage, draw: WaveDraw, base: str) -> list[Interaction]:
        """Record the drawn reactions (caller holds the lock); clicks take the short-link path."""
        if msg.request.links:
            token = msg.request.links[0][0]
            link: tuple[str, str] | None = (token, f"{base}/r/{token}")
        else:
            link = body_link(msg.request.body)
        cutoff = self._opt_outs.get(msg.phone)  # the phone opted out before (another mailing)
        seen: Counter[str] = Counter()
        out: list[Interaction] = []
        for e in draw.events:
            kind = e.interaction or ""
            event_id = f"{msg.message_id}-{kind}-{seen[kind]}"
            seen[kind] += 1
            if cutoff is not None and e.at_us >= cutoff:
                continue
            if kind in ("click", "conversion"):
                if link is not None:  # a message without a link cannot be clicked
                    out.append(self._link_event(msg, kind, link[0], link[1], e.at_us, event_id, e.value))
                continue
            e.event_id = event_id
            interaction = Interaction(e)
            msg.interactions.append(interaction)
            out.append(interaction)
            if e.is_opt_out:
                self._opt_outs[msg.phone] = min(e.at_us, self._opt_outs.get(msg.phone, e.at_us))
        return out

    def _link_event(
        self, msg: SentMessage, kind: str, token: str, url: str, at_us: int, event_id: str, value: str | None = None
    ) -> Interaction:
        """The one click path (redirects and the model): record a click/conversion on a link (lock held)."""
        event = Event(event_id, INTERACTED, -1, -1, msg.mailing_name, at_us, interaction=kind, link_token=token,
                      value=value)
        interaction = Interaction(event, url)
        msg.interactions.append(interaction)
        return interaction

    def _publish_interaction(self, msg: SentMessage, interaction: Interaction) -> None:
        e = interaction.event
        attrs = [str_attr("eventId", e.event_id), str_attr("mailingName", e.mailing),
                 *interaction_attributes(e, interaction.url)]
        self.state.publish(_envelope(msg.phone, INTERACTED, e.at_us, attrs), from_us(e.at_us))

    # -- short links ----------------------------------------------------------------------------

    def click(self, token: str, base_url: str | None = None) -> str | None:
        """A short-link hit now: publish a click for the token's message; the target url, None if unknown."""
        base = (base_url or self.public_base).rstrip("/")
        with self._lock:
            owner = self._tokens.get(token)
            if owner is None:
                return None
            message_id, target = owner
            msg = self._messages[message_id]
            event_id = f"{message_id}-click-r{msg.redirects}"
            msg.redirects += 1
            at_us = _floor_ms(to_us(self.clock()))
            interaction = self._link_event(msg, "click", token, f"{base}/r/{token}", at_us, event_id)
        self._publish_interaction(msg, interaction)
        return target

    # -- delivery status ------------------------------------------------------------------------

    def message_statuses(self, message_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for mid in message_ids:
                msg = self._messages.get(mid)
                if msg is None:
                    out[mid] = {"status": "unknown", "status_code": None, "phone": None, "mailing_name": None}
                else:
                    out[mid] = {"status": "delivered" if msg.delivered else "failed", "status_code": msg.status_code,
                                "phone": msg.phone, "mailing_name": msg.mailing_name}
        return out

    # -- send gate (test fault) -----------------------------------------------------------------

    def arm_send_gate(self, block_after: int) -> dict[str, Any]:
        """Block the batch being processed once ``block_after`` more messages have been accepted."""
        if not isinstance(block_after, int) or isinstance(block_after, bool) or block_after < 0:
            raise PushError("block_after must be an integer >= 0")
        with self._lock:
            if self._gate is not None and self._gate.waiting:
                raise PushError("the send gate is holding a batch; release it first")
            self._gate = _Gate(block_after)
            self._gate_changed.notify_all()
            return self._gate_status()

    def release_send_gate(self) -> dict[str, Any]:
        """Let blocked batches finish and disarm the gate (a no-op when it is not armed)."""
        with self._lock:
            gate, self._gate = self._gate, None
            if gate is not None:
                self._gate_last_accepted = gate.accepted
                gate.release.set()
            self._gate_changed.notify_all()
            return self._gate_status()

    def send_gate_status(self) -> dict[str, Any]:
        with self._lock:
            return self._gate_status()

    def wait_send_gate_blocked(self, timeout: float) -> bool:
        """True once a batch is held by the gate, False after ``timeout`` seconds."""
        with self._lock:
            return self._gate_changed.wait_for(lambda: self._gate is not None and self._gate.waiting > 0, timeout)

    def wait_batches_done(self, timeout: float) -> bool:
        """True once no batch is being processed (e.g. the rest of a released batch is accepted)."""
        with self._lock:
            return self._gate_changed.wait_for(lambda: self._in_flight == 0, timeout)

    def _gate_status(self) -> dict[str, Any]:
        gate = self._gate
        return {
            "armed": gate is not None,
            "blocked": gate is not None and gate.waiting > 0,
            "accepted_since_armed": gate.accepted if gate is not None else self._gate_last_accepted,
        }

    def _pass_send_gate(self) -> None:
        with self._lock:
            gate = self._gate
            if gate is None or gate.accepted < gate.block_after:
                return
            gate.waiting += 1
            self._gate_changed.notify_all()
        try:
            gate.release.wait()
        finally:
            with self._lock:
                gate.waiting -= 1

    # -- ledger and truth -----------------------------------------------------------------------

    def send_counts(self) -> dict[str, Any]:
        with self._lock:
            by = {f"{mailing}|{phone}": n for (mailing, phone), n in sorted(self._counts.items())}
            return {
                "total": sum(self._counts.values()),
                "max_per_phone_per_mailing": max(self._counts.values(), default=0),
                "by_mailing_phone": by,
            }

    def messages(self, mailing_name: str) -> list[SentMessage]:
        """Accepted messages of a mailing, in acceptance order (live objects: read, don't mutate)."""
        with self._lock:
            return [self._messages[mid] for mid in self._by_mailing.get(mailing_name, [])]

    def wave_truth(self, mailing_name: str) -> dict[str, Any]:
        """Ground truth of a wave mailing over everything the platform recorded for it."""
        with self._lock:  # interactions grow under the lock (short-link clicks)
            msgs = [self._messages[mid] for mid in self._by_mailing.get(mailing_name, [])]
            delivered = {m.phone for m in msgs if m.delivered}
            failed = {m.phone for m in msgs if not m.delivered} - delivered
            responders = {m.phone for m in msgs if m.is_responder()}
            opted_out = {m.phone for m in msgs if m.opt_out_us() is not None}
            clicked = {m.phone for m in msgs if m.has("click")}
            kinds: Counter[str] = Counter(i.event.interaction or "" for m in msgs for i in m.interactions)
            variants: dict[str, dict[str, int]] = {}
            for m in msgs:
                if m.request.variant is None:
                    continue
                v = variants.setdefault(m.request.variant, {"sent": 0, "delivered": 0, "clicked": 0, "converted": 0})
                v["sent"] += 1
                v["delivered"] += m.delivered
                v["clicked"] += m.has("click")
                v["converted"] += m.has("conversion")
        return {
            "mailing": mailing_name,
            "sent": len(msgs),
            "delivered": sum(m.delivered for m in msgs),
            "failed": sum(not m.delivered for m in msgs),
            "delivered_phones": sorted(delivered),
            "failed_phones": sorted(failed),
            "clicked_phones": sorted(clicked),
            "responders": sorted(responders),
            "opted_out_phones": sorted(opted_out),
            "non_responders": sorted(delivered - responders - opted_out),
            "interactions": {k: kinds[k] for k in sorted(kinds)},
            "variants": {k: variants[k] for k in sorted(variants)},
        }
