"""Event envelopes → normalised rows or quarantined rejects.

An envelope is what the platform sends::

    {"channel": "SMS", "identifiers": [{"name": "phoneNumber", "value": "…"}, …],
     "events": [{"code": "sentSMS", "timestamp": "…", "attributes": [{"name", "value", "type"}, …]}]}

Every *record* (one event of an envelope, or the whole envelope when its events cannot be
enumerated) becomes exactly one ``EventRow`` or one ``Reject``, so a window always reconciles:
records downloaded = imported + duplicates + rejected.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sms_response.mapping import CodeMapping, Mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window

SMS_CHANNEL = "SMS"
SENT = "sentSMS"
INTERACTED = "interactedSMS"
EVENT_CODES = (SENT, INTERACTED)
INTERACTION_TYPES = frozenset({"click", "reply", "action", "opt_out", "opt_in", "conversion"})
DELIVERY_STATUSES = frozenset({"delivered", "failed", "undelivered"})
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT"})
START_KEYWORDS = frozenset({"START", "UNSTOP"})

# Timestamps this far from their publication window are garbage, not late events; rejecting
# them also keeps absurd years from creating partitions.
MAX_LATENESS = timedelta(days=400)
MAX_EARLINESS = timedelta(days=1)
MAX_EVENT_ID_LEN = 200
# mailing_name is indexed (btree entries stop at about 2,700 bytes): a longer name is a reject, not a failed window.
MAX_MAILING_NAME_LEN = 500


@dataclass(frozen=True)
class EventRow:
    code: str
    event_id: str
    event_time: datetime
    values: tuple[object, ...]  # in CodeMapping.copy_columns order
    phone_e164: str
    is_late: bool
    interaction_type: str | None = None


@dataclass(frozen=True)
class Reject:
    position: str
    reason: str
    raw: str


@dataclass(frozen=True)
class Skipped:
    """A record of another channel (email, push): not an SMS event, not an error."""

    channel: str


@dataclass(frozen=True)
class UnparseableLine:
    """A landing line that is not JSON (it still counts as one record, rejected with the parser's message)."""

    text: str
    error: str


def raw_json(obj: object) -> str:
    """Quarantine copy of a record: ASCII-escaped so NUL and friends survive a text column."""
    return json.dumps(obj, ensure_ascii=True, sort_keys=True, default=str)


def count_records(envelope: object) -> int:
    """How many records an envelope holds (the unit of reconciliation)."""
    if isinstance(envelope, dict):
        events = envelope.get("events")
        if isinstance(events, list) and events:
            return len(events)
    return 1


def classify_keyword(keyword: str | None, body: str | None) -> str | None:
    """``opt_out`` / ``opt_in`` when a reply is a STOP- or START-family keyword, else None."""
    candidates: list[str] = []
    if keyword:
        candidates.append(" ".join(unicodedata.normalize("NFKC", keyword).upper().split()))
    if body:
        # NFKC: full-width ＳＴＯＰ (as CJK keyboards type it) is STOP.
        text = " ".join(unicodedata.normalize("NFKC", body).upper().strip().strip(".!").split())
        candidates.append(text)
        if text:
            candidates.append(text.split(" ")[0])
    for c in candidates:
        if c in STOP_KEYWORDS:
            return "opt_out"
        if c in START_KEYWORDS:
            return "opt_in"
    return None


class _RejectRecord(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _unicode_ok(text: str) -> bool:
    """Whether ``text`` can be stored: UTF-8 encodable (a lone surrogate from a JSON escape is not)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(text: str, what: str) -> str:
    if "\x00" in text:
        raise _RejectRecord(f"{what} contains a NUL character")
    if not _unicode_ok(text):
        raise _RejectRecord(f"{what} is not valid Unicode (a lone surrogate)")
    return text


_BOOLEANS = {"true": True, "false": False}


def _convert(value: Any, ctype: str, attribute: str) -> object:
    if value is None:
        return None
    if ctype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise _RejectRecord(f"attribute {attribute} is not a boolean: {str(value)[:40]!r}")
    if ctype == "integer":
        if isinstance(value, bool):
            raise _RejectRecord(f"attribute {attribute} is not an integer: {value!r}")
        try:
            as_dec = Decimal(str(value).strip())
            if as_dec != as_dec.to_integral_value() or abs(as_dec) > 2**31 - 1:
                raise InvalidOperation
            return int(as_dec)
        except (InvalidOperation, ValueError):
            raise _RejectRecord(f"attribute {attribute} is not an integer: {str(value)[:40]!r}") from None
    if ctype == "numeric":
        try:
            dec = Decimal(str(value).strip())
            if not dec.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise _RejectRecord(f"attribute {attribute} is not a number: {str(value)[:40]!r}") from None
        # PostgreSQL's numeric: up to 131072 digits before the point and 16383 after.
        if dec.adjusted() >= 131072 or -dec.as_tuple().exponent > 16383:  # type: ignore[operator]
            raise _RejectRecord(f"attribute {attribute} is out of range: {str(value)[:40]!r}")
        return dec
    text = value if isinstance(value, str) else json.dumps(value)
    _storable(text, f"attribute {attribute}")
    return text.strip().lower() if ctype == "lower" else text


def _extra_json(extra: dict[str, Any]) -> str:
    """The unmapped attributes as the row's jsonb; what jsonb cannot hold rejects the record, not the window."""
    for key, value in extra.items():
        try:
            json.dumps(value, default=str, allow_nan=False)
        except ValueError:
            raise _RejectRecord(f"attribute {key} holds a number that is not finite") from None
        if _has_nul(key) or _has_nul(value):
            raise _RejectRecord(f"attribute {key[:40]!r} contains a NUL character")
    text = json.dumps(extra, sort_keys=True, default=str, ensure_ascii=False)
    if not _unicode_ok(text):
        raise _RejectRecord("an unmapped attribute is not valid Unicode (a lone surrogate)")
    return text


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    attrs = event.get("attributes", [])
    if attrs is None:
        return {}
    if not isinstance(attrs, list):
        raise _RejectRecord(f"attributes is not a list ({type(attrs).__name__})")
    out: dict[str, Any] = {}
    for i, a in enumerate(attrs):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not a["name"]:
            raise _RejectRecord(f"attribute #{i} has no name")
        out[a["name"]] = a.get("value")
    return out


def _identifiers(envelope: dict[str, Any]) -> dict[str, Any]:
    idents = envelope.get("identifiers")
    if not isinstance(idents, list):
        return {}
    out: dict[str, Any] = {}
    for ident in idents:
        if isinstance(ident, dict) and isinstance(ident.get("name"), str):
            out.setdefault(ident["name"], ident.get("value"))
    return out


def _timestamp(raw: Any, window: Window) -> datetime:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _RejectRecord("timestamp missing")
    if not isinstance(raw, str):
        raise _RejectRecord(f"timestamp is not an ISO-8601 string ({type(raw).__name__})")
    try:
        ts = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _RejectRecord(f"timestamp not ISO-8601: {raw[:40]!r}") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise _RejectRecord(f"timestamp has no time zone: {raw[:40]!r}")
    if ts < window.start - MAX_LATENESS or ts > window.end + MAX_EARLINESS:
        raise _RejectRecord(f"timestamp {raw[:40]!r} is implausibly far from the window {window}")
    return ts


class Normaliser:
    """Turns envelopes into rows; one instance per window (it caches phone numbers)."""

    def __init__(self, mapping: Mapping, window: Window, load_id: str, phones: PhoneNormaliser) -> None:
        self.mapping = mapping
        self.window = window
        self.load_id = load_id
        self.phones = phones

    def normalise(self, envelope: object, position: str) -> Iterator[EventRow | Reject | Skipped]:
        if isinstance(envelope, UnparseableLine):
            yield Reject(position, f"line is not valid JSON ({envelope.error})",
                         raw_json({"__unparseable_line__": envelope.text}))
            return
        if not isinstance(envelope, dict):
            yield Reject(position, f"envelope is not a JSON object ({type(envelope).__name__})", raw_json(envelope))
            return
        events = envelope.get("events")
        if not isinstance(events, list):
            yield Reject(position, "envelope has no events list", raw_json(envelope))
            return
        if not events:
            yield Reject(position, "envelope has an empty events list", raw_json(envelope))
            return
        channel = envelope.get("channel")
        bad_channel = None
        if channel is not None and not isinstance(channel, str):
            bad_channel = f"channel is not a string ({type(channel).__name__})"
        elif isinstance(channel, str) and not channel.strip():
            bad_channel = "channel is blank"
        elif isinstance(channel, str) and "\x00" in channel:
            bad_channel = "channel contains a NUL character"
        if bad_channel:
            for i, event in enumerate(events):
                yield Reject(f"{position}:{i}", bad_channel, raw_json({**envelope, "events": [event]}))
            return
        if channel is not None and channel.strip().upper() != SMS_CHANNEL:
            # Another channel's events (email, push) in the platform's download: counted, not imported or rejected.
            for _ in events:
                yield Skipped(channel.strip().upper()[:40])
            return
        idents = _identifiers(envelope)
        for i, event in enumerate(events):
            pos = f"{position}:{i}"
            try:
                yield self._row(envelope, idents, event)
            except _RejectRecord as rej:
                yield Reject(pos, rej.reason, raw_json({**envelope, "events": [event]}))

    def _row(self, envelope: dict[str, Any], idents: dict[str, Any], event: Any) -> EventRow:
        if not isinstance(event, dict):
            raise _RejectRecord(f"event is not a JSON object ({type(event).__name__})")
        code = event.get("code")
        cmap = self.mapping.for_code(code) if isinstance(code, str) else None
        if cmap is None:
            raise _RejectRecord(f"unknown event code {str(code)[:40]!r}")
        attrs = _attributes(event)
        event_id = attrs.get("eventId")
        if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
            raise _RejectRecord("eventId missing")
        if not isinstance(event_id, str | int) or isinstance(event_id, bool):
            raise _RejectRecord(f"eventId is not a string or an integer ({type(event_id).__name__})")
        event_id = _storable(str(event_id).strip(), "eventId")
        if len(event_id) > MAX_EVENT_ID_LEN:
            raise _RejectRecord(f"eventId longer than {MAX_EVENT_ID_LEN} characters")
        ts = _timestamp(event.get("timestamp"), self.window)
        if "phoneNumber" not in idents:
            raise _RejectRecord("phoneNumber identifier missing")
        phone = self.phones.normalise(idents["phoneNumber"])
        if phone.e164 is None:
            raise _RejectRecord(phone.reason or "phone invalid")
        values, itype = self._mapped(cmap, attrs)
        contact = None if idents.get("contactId") is None else _storable(str(idents["contactId"]), "contactId")
        extra = {k: v for k, v in attrs.items() if k not in cmap.mapped_attributes}
        channel = envelope.get("channel")
        if channel is not None and channel != "SMS":
            extra["_channel"] = channel
        is_late = ts < self.window.start
        row = (
            event_id,
            phone.e164,
            contact,
            ts,
            *values,
            _extra_json(extra),
            is_late,
            self.load_id,
        )
        return EventRow(cmap.code, event_id, ts, row, phone.e164, is_late, itype)

    def _mapped(self, cmap: CodeMapping, attrs: dict[str, Any]) -> tuple[list[object], str | None]:
        out: list[object] = []
        by_col: dict[str, object] = {}
        for col in cmap.columns:
            raw = attrs.get(col.attribute)
            if col.required and (raw is None or (isinstance(raw, str) and not raw.strip())):
                raise _RejectRecord(f"{col.attribute} missing")
            value = _convert(raw, col.type, col.attribute)
            by_col[col.column] = value
            out.append(value)
        itype: str | None = None
        name = by_col.get("mailing_name")
        if isinstance(name, str) and len(name) > MAX_MAILING_NAME_LEN:
            raise _RejectRecord(f"mailingName longer than {MAX_MAILING_NAME_LEN} characters")
        if cmap.code == SENT:
            status = by_col.get("delivery_status")
            if status is not None and status not in DELIVERY_STATUSES:
                raise _RejectRecord(f"deliveryStatus {str(status)[:40]!r} is not one of {sorted(DELIVERY_STATUSES)}")
        elif cmap.code == INTERACTED:
            itype = by_col.get("interaction_type")  # type: ignore[assignment]
            if itype not in INTERACTION_TYPES:
                raise _RejectRecord(f"interactionType {str(itype)[:40]!r} is not one of {sorted(INTERACTION_TYPES)}")
            if itype == "reply":
                # A STOP-family reply is an opt-out (and START an opt-in), not a response.
                kw = by_col.get("keyword")
                body = by_col.get("reply_text")
                reclass = classify_keyword(kw if isinstance(kw, str) else None, body if isinstance(body, str) else None)
                if reclass is not None:
                    itype = reclass
                    out[[c.column for c in cmap.columns].index("interaction_type")] = itype
            if "keyword" in by_col and isinstance(by_col["keyword"], str):
                out[[c.column for c in cmap.columns].index("keyword")] = by_col["keyword"].strip().upper()
        return out, itype
