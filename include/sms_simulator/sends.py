"""The platform's push side: exactly-once batch sends that close the loop.

Modelled on a batch send endpoint with per-message idempotency keys: a key is sent once, a resend
under the same key is answered ``duplicate`` with the same message id, and a reused key with other
content is rejected.  Every accepted message becomes a ``sentSMS`` event in the event log, published
at the simulator's clock, followed by the recipient's reactions (``wave.WaveBehaviour``) at their own
(future) timestamps, so the loop closes; the ledger counts messages per phone per mailing so tests
can prove exactly-once.

``PushState`` also holds the other parts of the push side: contact imports (``contacts``), the
short links of sent messages (a hit on one records a click through the same path as the model's
clicks), the send gate (``faults.SendGate``) that can hold a batch mid-way, and the holdouts of
waves: a wave's holdout is never texted, but once the platform is told who is in it
(``register_holdout``, as a marketer uploads a control group) some members convert or reply anyway
(``WaveBehaviour.draw_holdout``), attributed to the wave's mailing, from the wave's first message on.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .clock import floor_ms, from_us, to_us
from .contacts import ContactImports, known_phones, to_e164
from .errors import PushError
from .faults import SendGate
from .links import ShortLinks, clicked_link, short_url
from .messages import Interaction, MessageRequest, SentMessage, interaction_envelope, interaction_fact
from .metrics_query import MetricsQuery
from .metrics_truth import CONTROL, WaveGroups, metrics_truth
from .records import Event
from .state import PlatformState
from .vocabulary import SHOP_CHECKOUT_URL
from .wave import WaveBehaviour, WaveDraw

DEFAULT_PUBLIC_BASE = "http://127.0.0.1"


@dataclass
class PushState:
    """Everything the platform keeps of pushes; thread-safe (sends and clicks run in worker threads)."""

    state: PlatformState
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    behaviour: WaveBehaviour = field(default_factory=WaveBehaviour)
    # Base of short links for sends made without a request to take it from (the Python API).
    public_base: str = DEFAULT_PUBLIC_BASE
    send_gate: SendGate = field(default_factory=SendGate)
    contacts: ContactImports = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ledger: dict[str, tuple[tuple[Any, ...], str]] = field(default_factory=dict, repr=False)
    _counts: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)
    _messages: dict[str, SentMessage] = field(default_factory=dict, repr=False)
    _by_mailing: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _links: ShortLinks = field(default_factory=ShortLinks, repr=False)
    _opt_outs: dict[str, int] = field(default_factory=dict, repr=False)  # phone -> earliest opt-out (us)
    _holdouts: dict[str, set[str]] = field(default_factory=dict, repr=False)  # mailing -> phones (E.164)
    _holdout_drawn: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.contacts = ContactImports(self.state)

    # -- batch send -----------------------------------------------------------------------------

    def send_batch(self, messages: Any, base_url: str | None = None) -> list[dict[str, Any]]:
        """Send ``messages``; ``base_url`` is the platform's public base for short links."""
        if not isinstance(messages, list) or not messages:
            raise PushError("messages must be a non-empty list")
        requests = [MessageRequest.parse(m) for m in messages]  # all or nothing on a malformed body
        known = known_phones(self.state)
        base = (base_url or self.public_base).rstrip("/")
        results = []
        with self.send_gate.batch():
            for req in requests:
                self.send_gate.admit()
                results.append(self._send_one(req, known, base))
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
            e164 = to_e164(req.phone)
            if e164 is None or e164 not in known:
                return {"idempotency_key": key, "status": "rejected", "reason": "unknown number"}
            message_id = "m-" + hashlib.sha256(key.encode()).hexdigest()[:16]
            taken = self._links.taken(message_id, req.links)
            if taken is not None:
                return {"idempotency_key": key, "status": "rejected",
                        "reason": f"link token {taken!r} already belongs to another message"}
            send_us = floor_ms(to_us(self.clock()))
            draw = self.behaviour.draw(req.mailing_name, e164, req.variant, send_us)
            msg = SentMessage(message_id, key, e164, req, send_us, draw.delivered, draw.status_code)
            self._ledger[key] = (req.content, message_id)
            self._messages[message_id] = msg
            self._by_mailing.setdefault(req.mailing_name, []).append(message_id)
            self._links.register(message_id, req.links)
            self._counts[(req.mailing_name, e164)] += 1
            self.send_gate.accepted()
            interactions = self._model_interactions(msg, draw, base)
            first = len(self._by_mailing[req.mailing_name]) == 1  # the wave starts with its first message
            holdout = self._draw_holdout(req.mailing_name, known, send_us) if first else []
        self.state.publish(msg.sent_envelope(), from_us(send_us), facts=[msg.sent_fact()])
        for interaction in interactions:
            self._publish_interaction(msg, interaction)
        self._publish_holdout(holdout, send_us)
        return {"idempotency_key": key, "status": "accepted", "message_id": message_id}

    def _model_interactions(self, msg: SentMessage, draw: WaveDraw, base: str) -> list[Interaction]:
        """Record the drawn reactions (caller holds the lock); clicks take the short-link path."""
        choice = self.behaviour.link_choice(msg.mailing_name, msg.phone, len(msg.request.links))
        link = clicked_link(msg.request.links, msg.request.body, base, choice)
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
                    out.append(msg.link_event(kind, link[0], link[1], e.at_us, event_id, e.value))
                continue
            e.event_id = event_id
            interaction = Interaction(e)
            msg.interactions.append(interaction)
            out.append(interaction)
            if e.is_opt_out:
                self._opt_outs[msg.phone] = min(e.at_us, self._opt_outs.get(msg.phone, e.at_us))
        return out

    def _publish_interaction(self, msg: SentMessage, interaction: Interaction) -> None:
        self.state.publish(msg.interaction_envelope(interaction), from_us(interaction.event.at_us),
                           facts=[interaction_fact(msg.phone, interaction)])

    # -- holdouts -------------------------------------------------------------------------------

    def register_holdout(self, mailing_name: Any, phones: Any) -> dict[str, Any]:
        """Tell the platform who is in a wave's holdout; registering a phone again changes nothing.

        Members known to the platform react (``WaveBehaviour.draw_holdout``) from the wave's first
        message on: at once when the wave has started, else with its first message.  A reaction the
        platform learns of only now, after it happened, is published now (late, like any late event).
        """
        if not isinstance(mailing_name, str) or not mailing_name:
            raise PushError("mailing must be a non-empty string")
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise PushError("phones must be a list of strings")
        normalised = {p: to_e164(p) for p in phones}
        invalid = sorted(p for p, e in normalised.items() if e is None)
        if invalid:
            raise PushError(f"not valid phone numbers: {', '.join(map(repr, invalid[:5]))}")
        members = {e for e in normalised.values() if e is not None}
        known = known_phones(self.state)
        now_us = floor_ms(to_us(self.clock()))
        with self._lock:
            texted = sorted(members & {m.phone for m in self._mailing_messages(mailing_name)})
            if texted:
                raise PushError(f"{len(texted)} number(s) were texted in {mailing_name}, so cannot be in its "
                                f"holdout: {', '.join(texted[:5])}")
            registered = self._holdouts.setdefault(mailing_name, set())
            new = len(members - registered)
            registered |= members
            start = min((m.send_us for m in self._mailing_messages(mailing_name)), default=None)
            drawn = self._draw_holdout(mailing_name, known, start) if start is not None else []
        self._publish_holdout(drawn, now_us)
        return {"mailing": mailing_name, "registered": new, "holdout": len(registered),
                "unknown": len(registered - known), "started": start is not None, "events": len(drawn)}

    def holdout(self, mailing_name: str) -> list[str]:
        with self._lock:
            return sorted(self._holdouts.get(mailing_name, ()))

    def _mailing_messages(self, mailing_name: str) -> list[SentMessage]:
        return [self._messages[mid] for mid in self._by_mailing.get(mailing_name, [])]

    def _draw_holdout(self, mailing_name: str, known: set[str], start_us: int) -> list[tuple[str, Event]]:
        """Reactions of the mailing's registered holdout members not drawn yet (caller holds the lock)."""
        out: list[tuple[str, Event]] = []
        for phone in sorted(self._holdouts.get(mailing_name, ())):
            if phone not in known or (mailing_name, phone) in self._holdout_drawn:
                continue
            self._holdout_drawn.add((mailing_name, phone))
            member = hashlib.sha256(f"{mailing_name}|{phone}".encode()).hexdigest()[:16]
            for e in self.behaviour.draw_holdout(mailing_name, phone, start_us):
                e.event_id = f"holdout-{member}-{e.interaction}"
                out.append((phone, e))
        return out

    def _publish_holdout(self, drawn: list[tuple[str, Event]], now_us: int) -> None:
        for phone, e in drawn:
            interaction = Interaction(e, SHOP_CHECKOUT_URL if e.interaction == "conversion" else "")
            self.state.publish(interaction_envelope(phone, interaction), from_us(max(e.at_us, now_us)),
                               facts=[interaction_fact(phone, interaction)])

    # -- short links ----------------------------------------------------------------------------

    def click(self, token: str, base_url: str | None = None) -> str | None:
        """A short-link hit now: publish a click for the token's message; the target url, None if unknown."""
        base = (base_url or self.public_base).rstrip("/")
        with self._lock:
            owner = self._links.owner(token)
            if owner is None:
                return None
            message_id, target = owner
            msg = self._messages[message_id]
            event_id = f"{message_id}-click-r{msg.redirects}"
            msg.redirects += 1
            at_us = floor_ms(to_us(self.clock()))
            interaction = msg.link_event("click", token, short_url(base, token), at_us, event_id)
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

    def metrics_truth(self, query: MetricsQuery) -> dict[str, Any]:
        """The glossary's figures over everything published before ``query.until`` (``metrics_truth``)."""
        facts = self.state.published_facts(query.until)
        with self._lock:
            links = {token: (i, url) for m in self._messages.values() for i, (token, url) in enumerate(m.request.links)}
            texted: dict[str, dict[str, set[str]]] = {}
            for mailing, ids in self._by_mailing.items():
                for mid in ids:
                    msg = self._messages[mid]
                    texted.setdefault(mailing, {}).setdefault(msg.request.variant or CONTROL, set()).add(msg.phone)
            waves = {
                mailing: WaveGroups({v: frozenset(p) for v, p in texted.get(mailing, {}).items()},
                                    frozenset(self._holdouts.get(mailing, ())))
                for mailing in texted.keys() | self._holdouts.keys()
            }
        return metrics_truth(facts, query, links=links, waves=waves)

    def wave_truth(self, mailing_name: str) -> dict[str, Any]:
        """Ground truth of a wave mailing over everything the platform recorded for it."""
        with self._lock:  # interactions grow under the lock (short-link clicks)
            msgs = [self._messages[mid] for mid in self._by_mailing.get(mailing_name, [])]
            delivered = {m.phone for m in msgs if m.delivered}
            failed = {m.phone for m in msgs if not m.delivered} - delivered
            responders = {m.phone for m in msgs if m.is_responder()}
            opted_out = {m.phone for m in msgs if m.opt_out_us() is not None}
            clicked = {m.phone for m in msgs if m.has("click")}
            by_link: dict[str, set[str]] = {}  # link position (1 = the message's first link) -> who clicked it
            for m in msgs:
                position = {token: n for n, (token, _) in enumerate(m.request.links, start=1)}
                for i in m.interactions:
                    if i.event.interaction == "click" and i.event.link_token in position:
                        by_link.setdefault(str(position[i.event.link_token]), set()).add(m.phone)
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
            "clickers_by_link": {k: sorted(by_link[k]) for k in sorted(by_link)},
            "responders": sorted(responders),
            "opted_out_phones": sorted(opted_out),
            "non_responders": sorted(delivered - responders - opted_out),
            "interactions": {k: kinds[k] for k in sorted(kinds)},
            "variants": {k: variants[k] for k in sorted(variants)},
        }
