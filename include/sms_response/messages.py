"""SMS message text: segment counting, templates, and link shortening.

Segment counting follows GSM 03.38 / 3GPP TS 23.038 and the concatenation header of TS 23.040:

* a message whose every character is in the GSM-7 default alphabet (basic table, or the extension
  table reached through ESC, which costs 2 septets) is sent as GSM-7: one part up to 160 septets,
  otherwise parts of 153 septets (7 septets go to the user data header). An ESC + character pair is
  never split across parts: encoders move the pair to the next part, wasting one septet;
* any other character switches the *whole* message to UCS-2 (UTF-16 on today's networks): one part
  up to 70 code units, otherwise parts of 67. A surrogate pair (a character outside the BMP, e.g.
  most emoji) is 2 code units and is never split across parts either.

The counts here are what the operator bills, so the next wave's cost can be checked before sending.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from sms_response.errors import SmsResponseError

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "MIN_TOKEN_BYTES",
    "SegmentInfo",
    "TemplateError",
    "count_segments",
    "credits",
    "find_links",
    "new_token",
    "placeholders",
    "render",
    "shorten_links",
    "shortening_warning",
    "validate_template",
]

# ---------------------------------------------------------------------------------------------------------------------
# Segment counting
# ---------------------------------------------------------------------------------------------------------------------

# The GSM 03.38 basic table in code-point order 0x00..0x7F, written out in full so it can be checked
# against the published table row by row. 0x1B is ESC (the gateway to the extension table), not a
# character, so it is left out; everything else is one septet.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"  # 0x10-0x1F without 0x1B (ESC, between Ξ and Æ)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)

# The extension table (ESC + code): each of these costs 2 septets. Form feed is ESC 0x0A.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

_GSM_SINGLE = 160
_GSM_PART = 153  # 160 - 7 septets of concatenation UDH
_UCS2_SINGLE = 70
_UCS2_PART = 67  # 70 - 3 code units (6 octets) of concatenation UDH

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SegmentInfo:
    """How a message text is sent: encoding, size, and number of billed parts.

    ``units`` is septets for GSM-7 and UTF-16 code units for UCS-2. ``per_part`` is the capacity of
    one part as used for this message (160/153 or 70/67). ``non_gsm_chars`` lists the characters that
    forced UCS-2, distinct and in order of first appearance, so an editor can see what to replace.
    """

    encoding: Encoding
    units: int
    parts: int
    per_part: int
    non_gsm_chars: tuple[str, ...]

    @property
    def unit_name(self) -> str:
        """The human name of ``units`` for this encoding."""
        return "septets" if self.encoding == "GSM-7" else "UTF-16 code units"


def _gsm_cost(ch: str) -> int:
    """Septets of one character, 0 when it is not in GSM-7."""
    if ch in GSM7_BASIC:
        return 1
    if ch in GSM7_EXTENSION:
        return 2
    return 0


def _utf16_units(ch: str) -> int:
    # Python strings hold code points; outside the BMP UTF-16 needs a surrogate pair.
    return 2 if ord(ch) > 0xFFFF else 1


def _pack(costs: Iterator[int], capacity: int) -> int:
    """Number of parts when indivisible items of the given costs are packed greedily in order.

    Greedy in-order packing is exactly what an encoder does: it fills a part until the next item
    (an ESC pair or a surrogate pair) no longer fits, then starts a new part.
    """
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts, used = parts + 1, 0
        used += cost
    return parts


def count_segments(text: str) -> SegmentInfo:
    """Encoding, size and number of parts of ``text`` as an SMS (empty text: 1 part, 0 units)."""
    non_gsm = tuple(dict.fromkeys(ch for ch in text if _gsm_cost(ch) == 0))
    if not non_gsm:
        septets = [_gsm_cost(ch) for ch in text]
        units = sum(septets)
        if units <= _GSM_SINGLE:
            return SegmentInfo("GSM-7", units, 1, _GSM_SINGLE, ())
        return SegmentInfo("GSM-7", units, _pack(iter(septets), _GSM_PART), _GSM_PART, ())
    code_units = [_utf16_units(ch) for ch in text]
    units = sum(code_units)
    if units <= _UCS2_SINGLE:
        return SegmentInfo("UCS-2", units, 1, _UCS2_SINGLE, non_gsm)
    return SegmentInfo("UCS-2", units, _pack(iter(code_units), _UCS2_PART), _UCS2_PART, non_gsm)


def credits(info: SegmentInfo, cost_per_part: int = 1) -> int:
    """Credits one recipient costs: operators bill every part of a concatenated message."""
    if cost_per_part < 0:
        raise ValueError(f"cost_per_part must be >= 0, got {cost_per_part}")
    return info.parts * cost_per_part


# ---------------------------------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------------------------------


class TemplateError(SmsResponseError, ValueError):
    """A message template is malformed or uses placeholders nobody can fill."""


# One token at a time: an escaped brace, a placeholder, or a stray brace (always an error, since a
# typo such as "{first name}" would otherwise reach recipients verbatim).
_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}|[{}]")


def _scan(template: str) -> Iterator[tuple[int, int, str | None, str]]:
    """Yield (start, end, placeholder name or None, literal replacement) for every brace token."""
    for m in _TOKEN.finditer(template):
        tok = m.group(0)
        if tok == "{{":
            yield m.start(), m.end(), None, "{"
        elif tok == "}}":
            yield m.start(), m.end(), None, "}"
        elif m.group(1) is not None:
            yield m.start(), m.end(), m.group(1), ""
        else:
            snippet = template[max(0, m.start() - 10) : m.start() + 20]
            raise TemplateError(
                f"stray {tok!r} at offset {m.start()} near {snippet!r}: placeholders are "
                "{name} with name matching [a-z_][a-z0-9_]*, literal braces are written {{ and }}"
            )


def placeholders(template: str) -> list[str]:
    """Distinct placeholder names of ``template`` in order of first appearance."""
    return list(dict.fromkeys(name for _, _, name, _ in _scan(template) if name is not None))


def validate_template(template: str, known: Collection[str]) -> None:
    """Raise :class:`TemplateError` naming every placeholder not in ``known`` (or any malformed brace)."""
    unknown = [name for name in placeholders(template) if name not in known]
    if unknown:
        raise TemplateError(
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            f"known: {', '.join(sorted(known)) or '(none)'}"
        )


def render(template: str, fields: Mapping[str, str | None], *, known: Collection[str] | None = None) -> str:
    """Fill ``{name}`` placeholders from ``fields``; a missing or None field renders as "".

    Missing values are rendered empty rather than raising because recipient attributes are often
    sparse and one empty given name must not stop a wave. Typos are caught instead by
    ``validate_template`` — run it once per template, or pass ``known`` here to do it in one call.
    """
    if known is not None:
        validate_template(template, known)
    out: list[str] = []
    pos = 0
    for start, end, name, literal in _scan(template):
        out.append(template[pos:start])
        out.append((fields.get(name) or "") if name is not None else literal)
        pos = end
    out.append(template[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------------------------------

_URL = re.compile(r"(?<![\w/])https?://\S+", re.IGNORECASE)
# Sentence punctuation that ends a URL in running text far more often than it belongs to it.
_TRAILING = ".,;:!?)'"


def _trim(url: str) -> str:
    """Strip trailing punctuation, keeping a ')' that closes a '(' inside the URL (wiki-style links)."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _link_spans(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _URL.finditer(text):
        url = _trim(m.group(0))
        # Nothing left after the scheme (e.g. "http://." in prose) is not a link.
        if url.partition("://")[2]:
            yield m.start(), m.start() + len(url), url


def find_links(text: str) -> list[str]:
    """http/https URLs in ``text`` in order (duplicates kept), without trailing sentence punctuation."""
    return [url for _, _, url in _link_spans(text)]


def shorten_links(text: str, make_short: Callable[[int, str], str]) -> tuple[str, list[tuple[int, str, str]]]:
    """Replace the i-th link occurrence by ``make_short(i, url)``.

    Returns the new text and (index, original url, short url) triples. Replacement is by position,
    not by string search, so a URL that is a prefix of another one is never rewritten twice.
    """
    out: list[str] = []
    mapping: list[tuple[int, str, str]] = []
    pos = 0
    for i, (start, end, url) in enumerate(_link_spans(text)):
        short = make_short(i, url)
        out.append(text[pos:start])
        out.append(short)
        mapping.append((i, url, short))
        pos = end
    out.append(text[pos:])
    return "".join(out), mapping


MIN_TOKEN_BYTES = 8  # 64 bits: enumerating the token space of live links stays out of reach


def new_token(nbytes: int = 9) -> str:
    """An unguessable URL-safe token for a short link (9 bytes → 12 characters, 72 bits)."""
    if nbytes < MIN_TOKEN_BYTES:
        raise ValueError(f"nbytes must be >= {MIN_TOKEN_BYTES} for an unguessable token, got {nbytes}")
    return secrets.token_urlsafe(nbytes)


def shortening_warning(before: str, after: str) -> str | None:
    """A warning when shortening links made the message cost more parts, else None.

    Short links are usually shorter, but a tracking domain can be longer than a bare URL, and a
    non-GSM character in it switches the whole message to UCS-2.
    """
    b, a = count_segments(before), count_segments(after)
    if a.parts <= b.parts:
        return None
    was = f"; was {b.encoding}" if a.encoding != b.encoding else ""
    return (
        f"shortening links makes the message {a.parts} parts instead of {b.parts} "
        f"({a.encoding}, {a.units} {a.unit_name}{was})"
    )
