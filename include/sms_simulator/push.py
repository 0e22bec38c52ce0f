"""The platform's push side: contact update imports and batch sends (exactly-once by idempotency key).

Modelled on Listrak's ContactImport (base64 CSV + column mappings, 201 + resource id, status polled
until Completed; phones the platform does not know are dropped silently, custom fields must exist)
and a batch send endpoint with per-message idempotency keys. Every accepted message becomes a
``sentSMS`` event in the event log, published at the simulator's clock, so the loop closes; the
ledger counts messages per phone per mailing so tests can prove exactly-once.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from .state import PlatformState

SYSTEM_FIELDS = ("phone", "email", "first_name", "last_name", "postal_code", "birthday")
DEFAULT_CUSTOM_FIELDS = ("loyalty_tier", "preferred_store")
# Share of accepted sends the model reports as failed (hard codes for a few numbers).
FAILURE_RATE_PER_MILLE = 40


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


@dataclass
class PushState:
    state: PlatformState
    custom_fields: tuple[str, ...] = DEFAULT_CUSTOM_FIELDS
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _imports: dict[str, ContactImport] = field(default_factory=dict, repr=False)
    _profiles: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _ledger: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _counts: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)

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

    def send_batch(self, messages: Any) -> list[dict[str, Any]]:
        if not isinstance(messages, list) or not messages:
            raise PushError("messages must be a non-empty list")
        known = self.known_phones()
        results = []
        for m in messages:
            if not isinstance(m, dict) or not all(isinstance(m.get(k), str) and m.get(k)
                                                  for k in ("idempotency_key", "phone", "mailing_name", "body")):
                raise PushError("each message needs idempotency_key, phone, mailing_name and body (strings)")
            results.append(self._send_one(m, known))
        return results

    def _send_one(self, m: Mapping[str, str], known: set[str]) -> dict[str, Any]:
        key = m["idempotency_key"]
        content = (m["phone"], m["mailing_name"], m["body"])
        with self._lock:
            prior = self._ledger.get(key)
            if prior is not None:
                if prior["content"] != content:
                    return {"idempotency_key": key, "status": "rejected",
                            "reason": "idempotency key reused with different content"}
                return {"idempotency_key": key, "status": "duplicate", "message_id": prior["message_id"]}
            e164 = _e164(m["phone"])
            if e164 is None or e164 not in known:
                return {"idempotency_key": key, "status": "rejected", "reason": "unknown number"}
            message_id = "m-" + hashlib.sha256(key.encode()).hexdigest()[:16]
            self._ledger[key] = {"content": content, "message_id": message_id}
            self._counts[(m["mailing_name"], e164)] += 1
        self._publish_sent(m, e164, message_id)
        return {"idempotency_key": key, "status": "accepted", "message_id": message_id}

    def _publish_sent(self, m: Mapping[str, str], e164: str, message_id: str) -> None:
        now = self.clock()
        failed = int(hashlib.sha256(e164.encode()).hexdigest()[:6], 16) % 1000 < FAILURE_RATE_PER_MILLE
        attrs = {
            "eventId": f"sent-{message_id}",
            "mailingName": m["mailing_name"],
            "campaignCode": m.get("campaign_code") or m["mailing_name"].split("_", 1)[0],
            "deliveryStatus": "failed" if failed else "delivered",
            "statusCode": "30006" if failed else "0",
            "messageBody": m["body"],
            "messageParts": str(m.get("message_parts") or 1),
        }
        envelope = {
            "channel": "SMS",
            "identifiers": [{"name": "phoneNumber", "value": e164}],
            "events": [{
                "code": "sentSMS",
                "timestamp": now.isoformat(),
                "attributes": [{"name": k, "value": v, "type": "number" if k in ("statusCode", "messageParts")
                                else "string"} for k, v in attrs.items()],
            }],
        }
        self.state.publish(envelope, now)

    def send_counts(self) -> dict[str, Any]:
        with self._lock:
            by = {f"{mailing}|{phone}": n for (mailing, phone), n in sorted(self._counts.items())}
            return {
                "total": sum(self._counts.values()),
                "max_per_phone_per_mailing": max(self._counts.values(), default=0),
                "by_mailing_phone": by,
            }
