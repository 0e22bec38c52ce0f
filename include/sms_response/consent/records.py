"""Consent records from their sources: a consent list (CSV) and the platform's opt-status export.

A consent list has a header with ``phone``, ``status`` (``opted_in`` / ``opted_out``; ``opt_in`` / ``opt_out``
too) and ``timestamp`` (ISO 8601 with a UTC offset: when consent was given or withdrawn), and optionally
``ref`` (kept as the record's source reference, else ``<file>:<line>``). A row is rejected, with its line,
for an unparseable phone, an unknown status, a timestamp without offset, or a (phone, timestamp) an earlier
row already gave.

The export lists subscribers (``phone``, ``contact_id``, ``status``, ``opted_in_at``, ``opted_out_at``): each
dated opt-in and opt-out becomes a record; a subscriber who never opted in and never out gives none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sms_response.consent.policy import ConsentRecord, Status
from sms_response.csvfile import read_csv
from sms_response.phones import PhoneNormaliser
from sms_response.rejects import Reject

STATUSES: dict[str, Status] = {"opted_in": "opted_in", "opt_in": "opted_in", "opted_out": "opted_out",
                               "opt_out": "opted_out"}
TIME_COLUMNS = ("timestamp", "recorded_at")


@dataclass(frozen=True)
class ParsedRecords:
    records: list[ConsentRecord]
    rejects: list[Reject]


def parse_timestamp(value: object) -> datetime:
    text = str(value or "").strip()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is not ISO 8601 (e.g. 2026-11-20T09:00:00+00:00)") from None
    if at.utcoffset() is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset (add e.g. +00:00 or Z)")
    return at


def parse_consent_list(path: Path, normaliser: PhoneNormaliser) -> ParsedRecords:
    header, rows = read_csv(path)
    names = {h.casefold(): h for h in header}
    time_col = next((names[c] for c in TIME_COLUMNS if c in names), None)
    phone_col, status_col = names.get("phone"), names.get("status")
    if phone_col is None or status_col is None or time_col is None:
        missing = [c for c, col in (("phone", phone_col), ("status", status_col), ("timestamp", time_col)) if not col]
        return ParsedRecords([], [Reject(1, f"missing column(s) {', '.join(missing)} (have: {', '.join(header)})")])
    ref_col = names.get("ref") or names.get("source_ref")
    records: list[ConsentRecord] = []
    rejects: list[Reject] = []
    seen: dict[tuple[str, datetime], int] = {}
    for row in rows:
        values = row.values
        phone = normaliser.normalise(values[phone_col])
        status = STATUSES.get(values[status_col].strip().casefold())
        try:
            if row.extra:
                raise ValueError("more fields than the header has columns")
            if phone.e164 is None:
                raise ValueError(f"{phone.reason}: {values[phone_col]!r}")
            if status is None:
                raise ValueError(f"status {values[status_col]!r} is not opted_in or opted_out")
            at = parse_timestamp(values[time_col])
        except ValueError as exc:
            rejects.append(Reject(row.line, str(exc)))
            continue
        if (phone.e164, at) in seen:
            rejects.append(Reject(row.line, f"duplicate: line {seen[phone.e164, at]} has {phone.e164} at the "
                                            "same time"))
            continue
        seen[phone.e164, at] = row.line
        ref = (values[ref_col].strip() if ref_col else "") or f"{path.name}:{row.line}"
        records.append(ConsentRecord(phone.e164, status, "consent_list", ref, at))
    return ParsedRecords(records, rejects)


def parse_opt_status_export(subscribers: Iterable[Mapping[str, object]],
                            normaliser: PhoneNormaliser) -> ParsedRecords:
    """Records of the platform's export; a reject's line is the subscriber's position in the export (1-based)."""
    records: list[ConsentRecord] = []
    rejects: list[Reject] = []
    for n, sub in enumerate(subscribers, start=1):
        phone = normaliser.normalise(sub.get("phone"))
        ref = f"opt-status export, contact {sub.get('contact_id') or '?'}"
        try:
            if phone.e164 is None:
                raise ValueError(f"{phone.reason}: {sub.get('phone')!r}")
            found = [(status, parse_timestamp(sub[key])) for key, status in
                     (("opted_in_at", "opted_in"), ("opted_out_at", "opted_out")) if sub.get(key)]
        except ValueError as exc:
            rejects.append(Reject(n, str(exc)))
            continue
        if len(found) == 2 and found[0][1] == found[1][1]:
            found = found[1:]  # opted in and out at the same instant: the opt-out stands
        records += [ConsentRecord(phone.e164, status, "platform_export", ref, at)  # type: ignore[arg-type]
                    for status, at in found]
    return ParsedRecords(records, rejects)
