"""Contact update imports, modelled on Listrak's ContactImport.

A base64 CSV with column mappings is answered with 201 and a resource id; its status is polled
until Completed.  Phones the platform does not know are dropped silently; custom fields must exist.
An import only updates the profiles of known numbers: it never adds a contact.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from .errors import PushError
from .state import PlatformState

SYSTEM_FIELDS = ("phone", "email", "first_name", "last_name", "postal_code", "birthday")
# The brand's CRM attributes (``customers.CUSTOM_COLUMNS``): a wave from ``SELECT * FROM crm.customers`` pushes them.
DEFAULT_CUSTOM_FIELDS = ("loyalty_tier", "preferred_store", "customer_id", "signup_date")


def to_e164(raw: str) -> str | None:
    """The number as E.164 (national numbers read as US), or None when it is not a valid number."""
    try:
        num = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return str(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))


def known_phones(state: PlatformState) -> set[str]:
    """E.164 numbers of the platform's contacts: the only ones an import or a send can reach."""
    return {c.e164 for c in state.contacts() if c.e164}


@dataclass
class ContactImport:
    """One accepted import, as its status polls report it."""

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
class ContactImports:
    """The imports the platform has accepted and the contact profiles they wrote."""

    state: PlatformState
    custom_fields: tuple[str, ...] = DEFAULT_CUSTOM_FIELDS
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _imports: dict[str, ContactImport] = field(default_factory=dict, repr=False)
    _profiles: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def start_import(self, body: Mapping[str, Any]) -> str:
        """Apply an import body (all or nothing on a malformed one); the resource id to poll."""
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
        known = known_phones(self.state)
        updated: list[str] = []
        dropped: list[str] = []
        phone_col = next(i for i, f in columns.items() if f == "phone")
        for row in rows:
            if phone_col >= len(row):
                continue
            e164 = to_e164(row[phone_col])
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

    def received(self) -> list[dict[str, Any]]:
        """Every accepted import in the order it arrived, with the phones it held (updated and dropped)."""
        with self._lock:
            return [{"resource_id": i.resource_id, "phones": [*i.updated, *i.dropped_unknown],
                     "updated": list(i.updated), "dropped_unknown": list(i.dropped_unknown)}
                    for i in self._imports.values()]

    def profile(self, e164: str) -> dict[str, str]:
        with self._lock:
            return dict(self._profiles.get(e164, {}))
