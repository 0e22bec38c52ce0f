"""Phone numbers to E.164 with ``phonenumbers``, once per distinct raw value.

Parsing and validating costs about 30 µs a number; numbers repeat across a recipient's events, so results are
cached (bounded: ``max_cached`` entries, then the cache starts again) and, across windows, kept in the
database's persistent lookup (:mod:`sms_response.phone_lookup`), which seeds this cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "no or invalid country code",
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


@dataclass(frozen=True)
class PhoneResult:
    e164: str | None
    reason: str | None = None


@dataclass
class PhoneNormaliser:
    """Normalise raw phone strings to E.164; ``reason`` says why one could not be."""

    default_region: str = "US"
    max_cached: int = 50_000
    parsed: int = 0
    _cache: dict[str, PhoneResult] = field(default_factory=dict, repr=False)

    def normalise(self, raw: object) -> PhoneResult:
        if not isinstance(raw, str):
            return PhoneResult(None, f"phone is not a string ({type(raw).__name__})")
        hit = self._cache.get(raw)
        if hit is None:
            hit = self._parse(raw)
            self.parsed += 1
            self.remember(raw, hit)
        return hit

    def cached(self, raw: str) -> PhoneResult | None:
        return self._cache.get(raw)

    def remember(self, raw: str, result: PhoneResult) -> None:
        """Cache a result decided elsewhere (the persistent lookup) or just now."""
        if len(self._cache) >= self.max_cached:
            self._cache.clear()
        self._cache[raw] = result

    def _parse(self, raw: str) -> PhoneResult:
        text = raw.strip()
        if not text:
            return PhoneResult(None, "phone is empty")
        if len(text) > 40:
            return PhoneResult(None, "phone is longer than 40 characters")
        try:
            num = phonenumbers.parse(text, self.default_region)
        except NumberParseException as exc:
            return PhoneResult(None, f"phone not parseable: {_PARSE_ERRORS.get(exc.error_type, 'unknown error')}")
        if not phonenumbers.is_valid_number(num):
            return PhoneResult(None, "phone is not a valid number")
        return PhoneResult(phonenumbers.format_number(num, PhoneNumberFormat.E164))

    @property
    def distinct_seen(self) -> int:
        return len(self._cache)


def mask(phone: str | None) -> str:
    """Mask a number for logs: keep the country prefix and the last two digits."""
    if not phone:
        return "<none>"
    if len(phone) <= 5:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]
