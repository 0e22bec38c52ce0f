"""The platform's mutable state: an append-only event log and a contact book.

Records are kept sorted by ``(published_at, sequence)``; ``sequence`` is the
order in which the platform accepted them.  Both are folded into one integer key
(``published_us << 32 | sequence``) because a flat list of ints is far cheaper to
keep and bisect than a list of tuples at half a million records.

Paging uses keyset cursors (the key of the last item handed out) rather than
offsets, so records published later into an earlier part of the log cannot shift
a client that is half way through a window.  A closed window therefore pages the
same way every time.

Future endpoints (contact import, batch send) are expected to call
``upsert_contact`` and ``publish``; ``publish`` works out whether an envelope is a
re-delivery by its eventId so ``truth()`` stays correct for appended data.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .build import paused_gc
from .clock import parse_aware, to_us
from .records import Campaign, Entry, Event, Fact, RecordStatus, dumps
from .truth import campaign_truth, summarize
from .vocabulary import EVENT_CODES, INTERACTED, INTERACTION_TYPES, SENT

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
_SEQ_BITS = 32
_SEQ_MASK = (1 << _SEQ_BITS) - 1


class PageError(ValueError):
    """A request the platform rejects with 400 (bad window, cursor, limit or filter)."""


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: str
    phone: str  # as the platform stores it
    e164: str | None = None
    region: str | None = None
    carrier: str | None = None


@dataclass(frozen=True, slots=True)
class StaticRecord:
    """An envelope handed to ``publish``; serialised once since it never changes."""

    status: RecordStatus
    events: tuple[Event, ...]
    json_text: str
    filter_codes: frozenset[str]
    filter_mailing: str | None
    malformed_kind: str | None = None
    long_lag: bool = False
    known_facts: tuple[Fact, ...] = ()  # what the publisher knew of the events (pushes); () for raw envelopes

    def to_json(self) -> str:
        return self.json_text

    def facts(self) -> tuple[Fact, ...]:
        return self.known_facts


def _attr_map(event: Mapping[str, Any]) -> dict[str, Any]:
    attrs = event.get("attributes")
    if not isinstance(attrs, list):
        raise ValueError("attributes must be a list")
    out: dict[str, Any] = {}
    for attr in attrs:
        if not isinstance(attr, dict) or not isinstance(attr.get("name"), str):
            raise ValueError("every attribute needs a name")
        out[attr["name"]] = attr.get("value")
    return out


def describe_envelope(envelope: Any) -> tuple[Event, ...]:
    """Validate a well-formed envelope and summarise its events; ValueError otherwise."""
    if not isinstance(envelope, dict):
        raise ValueError("envelope must be an object")
    identifiers = envelope.get("identifiers")
    if not isinstance(identifiers, list) or not any(
        isinstance(i, dict) and i.get("name") == "phoneNumber" and i.get("value") for i in identifiers
    ):
        raise ValueError("envelope needs a phoneNumber identifier")
    raw_events = envelope.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise ValueError("events must be a non-empty list")
    events: list[Event] = []
    for raw in raw_events:
        if not isinstance(raw, dict):
            raise ValueError("event must be an object")
        code = raw.get("code")
        if code not in EVENT_CODES:
            raise ValueError(f"unknown event code {code!r}")
        at_us = to_us(parse_aware(str(raw.get("timestamp"))))
        attrs = _attr_map(raw)
        event_id, mailing = attrs.get("eventId"), attrs.get("mailingName")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("eventId missing")
        if not isinstance(mailing, str) or not mailing:
            raise ValueError("mailingName missing")
        interaction = attrs.get("interactionType") if code == INTERACTED else None
        if code == INTERACTED and interaction not in INTERACTION_TYPES:
            raise ValueError(f"invalid interactionType {interaction!r}")
        status = attrs.get("deliveryStatus") if code == SENT else None
        keyword = attrs.get("keyword")
        events.append(
            Event(
                event_id=event_id,
                code=str(code),
                recipient=-1,
                mailing_index=-1,
                mailing=mailing,
                at_us=at_us,
                delivery_status=str(status) if status is not None else None,
                interaction=str(interaction) if interaction is not None else None,
                keyword=str(keyword) if keyword is not None else None,
            )
        )
    return tuple(events)


def _filter_signature(codes: frozenset[str] | None, mailings: frozenset[str] | None) -> str:
    raw = dumps([sorted(codes) if codes is not None else None, sorted(mailings) if mailings is not None else None])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _encode_cursor(key: int, start_us: int, end_us: int, signature: str) -> str:
    raw = dumps({"v": 1, "k": key, "s": start_us, "e": end_us, "f": signature}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, start_us: int, end_us: int, signature: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise PageError("malformed cursor") from exc
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("k"), int):
        raise PageError("malformed cursor")
    if data.get("s") != start_us or data.get("e") != end_us or data.get("f") != signature:
        raise PageError("cursor belongs to a different window or filter")
    key: int = data["k"]
    if not start_us << _SEQ_BITS <= key < end_us << _SEQ_BITS:
        raise PageError("cursor outside the window")
    return key


def _normalise(values: Collection[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    cleaned = frozenset(v.strip() for v in values if v.strip())
    return cleaned or None


class PlatformState:
    """Thread-safe event log + contacts; all public methods take the lock."""

    def __init__(self, campaign: Campaign | None = None) -> None:
        self._lock = threading.RLock()
        self._campaign = campaign
        self._keys: list[int] = []
        self._entries: list[Entry] = []
        self._next_seq = 0
        self._known_ids: set[str] | None = None  # built on first publish(); costly at scale
        self._contacts: dict[str, Contact] = {}
        if campaign is not None:
            with paused_gc():
                self._load(campaign)

    def _load(self, campaign: Campaign) -> None:
        self._keys = [(p << _SEQ_BITS) | seq for seq, p in enumerate(campaign.published_us)]
        self._entries = list(campaign.records)
        self._next_seq = len(self._keys)
        for r in campaign.recipients:
            self._contacts[r.contact_id] = Contact(r.contact_id, r.display_phone, r.e164, r.region, r.carrier)

    @property
    def campaign(self) -> Campaign | None:
        return self._campaign

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- contacts ------------------------------------------------------------

    def upsert_contact(self, contact: Contact) -> None:
        with self._lock:
            self._contacts[contact.contact_id] = contact

    def get_contact(self, contact_id: str) -> Contact | None:
        with self._lock:
            return self._contacts.get(contact_id)

    def contacts(self) -> list[Contact]:
        with self._lock:
            return list(self._contacts.values())

    # -- writing ---------------------------------------------------------------

    def publish(
        self,
        envelope: dict[str, Any],
        published_at: datetime,
        *,
        malformed_kind: str | None = None,
        facts: Sequence[Fact] = (),
    ) -> None:
        """Make ``envelope`` available at ``published_at``.

        Pass ``malformed_kind`` to publish a deliberately broken envelope; an
        undeclared broken envelope raises ValueError so truth() cannot be skewed
        by accident.  A valid envelope whose eventIds were already published is
        recorded as a duplicate.  ``facts`` is what the publisher knows of the
        envelope's events (``Fact``): the campaign metrics truth reads them.
        """
        pub_us = to_us(published_at)
        text = dumps(envelope)
        with self._lock:
            if malformed_kind is not None:
                entry = StaticRecord("malformed", (), text, frozenset(), None, malformed_kind=malformed_kind)
            else:
                events = describe_envelope(envelope)
                known = self._event_ids()
                ids = [e.event_id for e in events]
                status: RecordStatus = "duplicate" if any(i in known for i in ids) else "original"
                known.update(ids)
                entry = StaticRecord(status, events, text, frozenset(e.code for e in events), events[0].mailing,
                                     known_facts=tuple(facts))
            if self._next_seq > _SEQ_MASK:
                raise OverflowError("event log full")
            key = (pub_us << _SEQ_BITS) | self._next_seq
            self._next_seq += 1
            pos = bisect.bisect_right(self._keys, key)
            self._keys.insert(pos, key)
            self._entries.insert(pos, entry)

    def _event_ids(self) -> set[str]:
        if self._known_ids is None:
            self._known_ids = {
                e.event_id for entry in self._entries if entry.status != "malformed" for e in entry.events
            }
        return self._known_ids

    # -- reading ---------------------------------------------------------------

    def page_json(
        self,
        start: datetime,
        end: datetime,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
        codes: Collection[str] | None = None,
        mailings: Collection[str] | None = None,
    ) -> tuple[list[str], str | None]:
        """One page of serialised envelopes published in ``[start, end)``.

        Cost is O(log n + limit) without filters.  With filters, non-matching
        records between matches are skipped over, so a sparse filter costs the
        records it steps past.
        """
        start_us, end_us = self._window(start, end)
        if not 1 <= limit <= MAX_LIMIT:
            raise PageError(f"limit must be between 1 and {MAX_LIMIT}")
        code_set, mailing_set = _normalise(codes), _normalise(mailings)
        if code_set is not None and not code_set <= set(EVENT_CODES):
            raise PageError(f"codes must be among {', '.join(EVENT_CODES)}")
        signature = _filter_signature(code_set, mailing_set)
        with self._lock:
            lo = bisect.bisect_left(self._keys, start_us << _SEQ_BITS)
            hi = bisect.bisect_left(self._keys, end_us << _SEQ_BITS)
            pos = lo
            if cursor is not None:
                pos = bisect.bisect_right(self._keys, _decode_cursor(cursor, start_us, end_us, signature))
            if code_set is None and mailing_set is None:
                stop = min(pos + limit, hi)
                chosen = self._entries[pos:stop]
                resume = stop
            else:
                chosen = []
                i = pos
                while i < hi and len(chosen) < limit:
                    if self._matches(self._entries[i], code_set, mailing_set):
                        chosen.append(self._entries[i])
                    i += 1
                # Look ahead so the last page reports next_cursor=null instead of
                # sending the client to an empty page.
                while i < hi and not self._matches(self._entries[i], code_set, mailing_set):
                    i += 1
                resume = i
            next_cursor = None
            if resume < hi:
                next_cursor = _encode_cursor(self._keys[resume - 1], start_us, end_us, signature)
        # Records are immutable once published, so rendering can happen unlocked.
        return [entry.to_json() for entry in chosen], next_cursor

    def page(
        self,
        start: datetime,
        end: datetime,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
        codes: Collection[str] | None = None,
        mailings: Collection[str] | None = None,
    ) -> tuple[list[Any], str | None]:
        """Like ``page_json`` but with envelopes decoded (they may be non-objects)."""
        texts, next_cursor = self.page_json(start, end, cursor, limit, codes, mailings)
        return [json.loads(t) for t in texts], next_cursor

    @staticmethod
    def _matches(entry: Entry, codes: frozenset[str] | None, mailings: frozenset[str] | None) -> bool:
        if codes is not None and not entry.filter_codes & codes:
            return False
        return mailings is None or entry.filter_mailing in mailings

    @staticmethod
    def _window(start: datetime, end: datetime) -> tuple[int, int]:
        for name, value in (("start", start), ("end", end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise PageError(f"{name} must be timezone-aware")
        start_us, end_us = to_us(start), to_us(end)
        if end_us <= start_us:
            raise PageError("end must be after start")
        return start_us, end_us

    def entries_between(self, start: datetime, end: datetime) -> Sequence[Entry]:
        start_us, end_us = self._window(start, end)
        with self._lock:
            lo = bisect.bisect_left(self._keys, start_us << _SEQ_BITS)
            hi = bisect.bisect_left(self._keys, end_us << _SEQ_BITS)
            return self._entries[lo:hi]

    def published_facts(self, until: datetime | None = None) -> list[Fact]:
        """Facts of the valid originals published before ``until`` (all when None), in publication order.

        Malformed records are never importable and a duplicate re-delivers an event already counted, so
        both are left out (the rules of ``truth.TRUTH_RULES``).
        """
        with self._lock:
            hi = len(self._keys) if until is None else bisect.bisect_left(self._keys, to_us(until) << _SEQ_BITS)
            entries = self._entries[:hi]
        return [f for entry in entries if entry.status == "original" for f in entry.facts()]

    def _mailing_names(self) -> list[str]:
        return self._campaign.mailing_names() if self._campaign is not None else []

    def truth(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Ground truth for everything published in ``[start, end)``."""
        return summarize(self.entries_between(start, end), start, end, self._mailing_names())

    def truth_all(self) -> dict[str, Any]:
        """Campaign-level truth plus record totals over the whole log."""
        with self._lock:
            entries = list(self._entries)
        records = summarize(entries, None, None, self._mailing_names())
        if self._campaign is None:
            return {"records": records}
        out = campaign_truth(self._campaign)
        out["records"] = records
        return out
