"""Which consent record a send relies on, and whether a policy lets it go.

The deciding record of a phone at time t is its latest record at or before t, from any source (the platform's
opt-status export, an opt-in / opt-out keyword, an imported consent list). Two records at the same instant: the
opt-out decides (the safe reading), then the source and reference in alphabetical order, as the SQL function
``consent_as_of`` orders them.

* ``opt_in_required`` (the default): a send needs a deciding record that is an opt-in.
* ``not_opted_out``: a send needs no deciding record, or one that is not an opt-out (for sites that keep consent
  elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

Policy = Literal["opt_in_required", "not_opted_out"]
Status = Literal["opted_in", "opted_out"]
Source = Literal["platform_export", "keyword", "consent_list"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
DEFAULT_POLICY: Policy = "opt_in_required"


@dataclass(frozen=True)
class ConsentRecord:
    """One opt-in or opt-out; ``record_id`` / ``event_id`` say where it is stored, when read back."""

    phone_e164: str
    status: Status
    source: Source
    source_ref: str
    recorded_at: datetime
    record_id: int | None = None
    event_id: str | None = None

    def __post_init__(self) -> None:
        if self.recorded_at.utcoffset() is None:
            raise ValueError(f"consent record of {self.phone_e164}: recorded_at must carry a UTC offset")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    record: ConsentRecord | None


def deciding_record(records: Iterable[ConsentRecord], at: datetime) -> ConsentRecord | None:
    """The latest record at or before ``at`` (one phone's records), or None."""
    candidates = sorted((r for r in records if r.recorded_at <= at), key=lambda r: (r.source, r.source_ref))
    candidates.sort(key=lambda r: (r.recorded_at, r.status == "opted_out"), reverse=True)  # stable: ties keep order
    return candidates[0] if candidates else None


def allows(policy: Policy, record: ConsentRecord | None) -> bool:
    if policy == "opt_in_required":
        return record is not None and record.status == "opted_in"
    if policy == "not_opted_out":
        return record is None or record.status != "opted_out"
    raise ValueError(f"unknown consent policy {policy!r}; one of {', '.join(POLICIES)}")


def decide(policy: Policy, records: Iterable[ConsentRecord], at: datetime) -> Decision:
    """May one phone be texted at ``at`` under ``policy``, and on which record."""
    record = deciding_record(records, at)
    return Decision(allows(policy, record), record)
