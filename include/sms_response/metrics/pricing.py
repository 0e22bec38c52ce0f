"""What a message costs: credits per part, by encoding (GSM-7 or UCS-2), as platforms bill."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from sms_response.messages import GSM7_BASIC, GSM7_EXTENSION


@dataclass(frozen=True)
class Pricing:
    """Credits per message part; platforms that charge UCS-2 parts differently set ``ucs2`` apart."""

    gsm7: Decimal = Decimal(1)
    ucs2: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if self.gsm7 < 0 or self.ucs2 < 0:
            raise ValueError(f"credits per part must not be negative (gsm7={self.gsm7}, ucs2={self.ucs2})")


@cache
def gsm7_regex() -> str:
    """A PostgreSQL regular expression matching a text made only of GSM-7 characters (basic or extension).

    Each character is written as a ``\\uXXXX`` escape, so no character of the alphabet can act as regex
    syntax inside the bracket expression.
    """
    chars = sorted(GSM7_BASIC | GSM7_EXTENSION)
    return "^[" + "".join(f"\\u{ord(c):04x}" for c in chars) + "]*$"
