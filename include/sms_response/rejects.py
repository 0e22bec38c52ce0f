"""Rows a load refuses, each with its line (or row) number and reason, and the error that lists them.

Loads of contacts and consent records are all or nothing: one rejected row and nothing is written, so a
fixed file can simply be loaded again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sms_response.errors import SmsResponseError

MAX_LISTED = 50


@dataclass(frozen=True)
class Reject:
    """``line``: the source's line (CSV, 1 = header) or row number (query, 0 = its columns)."""

    line: int
    reason: str


class RejectedRows(SmsResponseError):
    """A source had bad rows; nothing of it was loaded."""

    def __init__(self, source: str, rejects: Sequence[Reject], unit: str = "line") -> None:
        self.source = source
        self.rejects = tuple(rejects)
        self.unit = unit
        listed = "\n".join(f"  {unit} {r.line}: {r.reason}" for r in self.rejects[:MAX_LISTED])
        more = f"\n  … and {len(self.rejects) - MAX_LISTED} more" if len(self.rejects) > MAX_LISTED else ""
        super().__init__(f"{source}: {len(self.rejects)} row(s) rejected, nothing was loaded; fix them and load "
                         f"again:\n{listed}{more}")
