from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_response.errors import SmsResponseError
from sms_response.messages import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SegmentInfo,
    TemplateError,
    count_segments,
    credits,
    find_links,
    new_token,
    placeholders,
    render,
    shorten_links,
    shortening_warning,
    validate_template,
)

# ---------------------------------------------------------------------------------------------------------------------
# GSM 03.38 tables, checked against the published code points (an independent transcription)
# ---------------------------------------------------------------------------------------------------------------------

# The basic table as Unicode code points at GSM positions 0x00..0x7F; None is ESC (0x1B).
# fmt: off
SPEC_BASIC = [
    0x40, 0xA3, 0x24, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0x0A, 0xD8, 0xF8, 0x0D, 0xC5, 0xE5,
    0x394, 0x5F, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8, 0x3A3, 0x398, 0x39E, None, 0xC6, 0xE6, 0xDF, 0xC9,
    *range(0x20, 0x24), 0xA4, *range(0x25, 0x40),
    0xA1, *range(0x41, 0x5B), 0xC4, 0xD6, 0xD1, 0xDC, 0xA7,
    0xBF, *range(0x61, 0x7B), 0xE4, 0xF6, 0xF1, 0xFC, 0xE0,
]
SPEC_EXTENSION = [0x0C, 0x5E, 0x7B, 0x7D, 0x5C, 0x5B, 0x7E, 0x5D, 0x7C, 0x20AC]
# fmt: on


def test_gsm_tables_match_the_published_code_points() -> None:
    assert len(SPEC_BASIC) == 128
    assert {chr(c) for c in SPEC_BASIC if c is not None} == GSM7_BASIC
    assert {chr(c) for c in SPEC_EXTENSION} == GSM7_EXTENSION
    assert "\x1b" not in GSM7_BASIC and not GSM7_BASIC & GSM7_EXTENSION


# ---------------------------------------------------------------------------------------------------------------------
# Segment counting
# ---------------------------------------------------------------------------------------------------------------------

A = "a"
ZH = "ж"  # Cyrillic: one UTF-16 unit, not GSM-7
WAVE = "👋"  # outside the BMP: a surrogate pair, 2 UTF-16 units

CASES: list[tuple[str, str, str, int, int]] = [
    # (id, text, encoding, units, parts)
    ("empty", "", "GSM-7", 0, 1),
    ("hello", "Hello", "GSM-7", 5, 1),
    ("160 a", A * 160, "GSM-7", 160, 1),
    ("161 a", A * 161, "GSM-7", 161, 2),
    ("306 a", A * 306, "GSM-7", 306, 2),
    ("307 a", A * 307, "GSM-7", 307, 3),
    ("158 a + euro fits", A * 158 + "€", "GSM-7", 160, 1),
    ("159 a + euro", A * 159 + "€", "GSM-7", 161, 2),
    ("152 a + euro still single", A * 152 + "€", "GSM-7", 154, 1),
    ("152 a + euro + 8 a, pair moved", A * 152 + "€" + A * 8, "GSM-7", 162, 2),
    # 306 septets would fit 2 x 153, but the ESC pair cannot straddle parts 1-2: part 1 keeps 152
    # septets, so one 'a' spills into part 3. This is the case where splitting matters.
    ("pair moves, 3 parts", A * 152 + "€" + A * 152, "GSM-7", 306, 3),
    ("151 a + euro, pair fits", A * 151 + "€" + A * 153, "GSM-7", 306, 2),
    ("152 a + euro + 153 a", A * 152 + "€" + A * 153, "GSM-7", 307, 3),
    ("all extension chars", "\f^{}\\[~]|€", "GSM-7", 20, 1),
    ("80 euros", "€" * 80, "GSM-7", 160, 1),
    ("81 euros", "€" * 81, "GSM-7", 162, 2),
    ("Café is GSM", "Café", "GSM-7", 4, 1),
    ("Ç is GSM", "Ça va", "GSM-7", 5, 1),
    ("newline/CR are GSM", "a\r\nb", "GSM-7", 4, 1),
    ("crème is GSM", "crème à la", "GSM-7", 10, 1),
    ("ê is not GSM", "café à la crème brûlée fête", "UCS-2", 27, 1),
    ("ç is not GSM", "garçon", "UCS-2", 6, 1),
    ("emoji", "Hi " + WAVE, "UCS-2", 5, 1),
    ("69 a + zh", A * 69 + ZH, "UCS-2", 70, 1),
    ("70 a + zh", A * 70 + ZH, "UCS-2", 71, 2),
    ("134 units", A * 133 + ZH, "UCS-2", 134, 2),
    ("135 units", A * 134 + ZH, "UCS-2", 135, 3),
    ("68 a + emoji fits", A * 68 + WAVE, "UCS-2", 70, 1),
    ("69 a + emoji", A * 69 + WAVE, "UCS-2", 71, 2),
    # 134 units would fit 2 x 67, but the surrogate pair cannot straddle parts 1-2.
    ("surrogate pair moves", ZH * 66 + WAVE + ZH * 66, "UCS-2", 134, 3),
    ("surrogate pair fits", ZH * 65 + WAVE + ZH * 67, "UCS-2", 134, 2),
    ("CJK", "你好", "UCS-2", 2, 1),
]


PER_PART = {("GSM-7", True): 160, ("GSM-7", False): 153, ("UCS-2", True): 70, ("UCS-2", False): 67}


@pytest.mark.parametrize(("text", "encoding", "units", "parts"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_count_segments_table(text: str, encoding: str, units: int, parts: int) -> None:
    info = count_segments(text)
    assert (info.encoding, info.units, info.parts) == (encoding, units, parts)
    assert info.per_part == PER_PART[encoding, parts == 1]
    assert (info.non_gsm_chars == ()) == (encoding == "GSM-7")


def test_non_gsm_chars_are_distinct_in_order_of_appearance() -> None:
    info = count_segments("fête 👋 garçon fête 👋 Ça")
    assert info.non_gsm_chars == ("ê", "👋", "ç")
    assert count_segments("Hello").non_gsm_chars == ()


def test_segment_info_is_frozen_and_credits_multiply_parts() -> None:
    info = count_segments(A * 161)
    with pytest.raises(AttributeError):
        info.parts = 1  # type: ignore[misc]
    assert credits(info) == 2
    assert credits(info, cost_per_part=7) == 14
    assert credits(count_segments("")) == 1
    with pytest.raises(ValueError):
        credits(info, -1)
    assert SegmentInfo("GSM-7", 0, 1, 160, ()).unit_name == "septets"


# No example database: runs stay independent of earlier failures and leave no examples behind.
FAST = settings(deadline=None, database=None)

gsm_text = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=400)
any_text = st.text(
    alphabet=st.one_of(st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), st.characters()), max_size=250
)


@settings(FAST, max_examples=300)
@given(any_text, st.characters())
def test_parts_never_decrease_when_appending(text: str, ch: str) -> None:
    assert count_segments(text + ch).parts >= count_segments(text).parts


@settings(FAST, max_examples=200)
@given(gsm_text)
def test_gsm_only_text_is_never_ucs2(text: str) -> None:
    info = count_segments(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text) + sum(ch in GSM7_EXTENSION for ch in text)
    # parts are at least the naive ceiling and at most one extra per wasted septet.
    if info.units > 160:
        assert -(-info.units // 153) <= info.parts <= -(-info.units // 152)


@settings(FAST, max_examples=200)
@given(any_text)
def test_ucs2_units_are_utf16_code_units(text: str) -> None:
    info = count_segments(text)
    if info.encoding == "UCS-2":
        assert info.units == len(text.encode("utf-16-le", "surrogatepass")) // 2
        assert info.non_gsm_chars and all(c not in GSM7_BASIC | GSM7_EXTENSION for c in info.non_gsm_chars)


# ---------------------------------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------------------------------


def test_render_fills_placeholders_and_blanks_missing_or_none() -> None:
    tpl = "Hi {given_name}{suffix}, {{not a field}} code {code}!"
    assert render(tpl, {"given_name": "Ana", "suffix": None}) == "Hi Ana, {not a field} code !"
    assert placeholders(tpl) == ["given_name", "suffix", "code"]
    assert placeholders("{a}{b}{a}") == ["a", "b"]
    assert render("}}{{x}}", {"x": "no"}) == "}{x}"
    # Values are inserted verbatim, never re-parsed as templates.
    assert render("{a}", {"a": "{b}"}) == "{b}"


def test_validate_template_names_unknown_placeholders() -> None:
    validate_template("Hi {given_name}", {"given_name", "code"})
    with pytest.raises(TemplateError, match=r"\{givne_name\}.*\{cde\}") as exc:
        validate_template("Hi {givne_name} {code} {cde}", ["given_name", "code"])
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, SmsResponseError)
    assert "{code}" not in str(exc.value).split(";")[0]
    with pytest.raises(TemplateError, match="givne_name"):
        render("Hi {givne_name}", {}, known={"given_name"})


@pytest.mark.parametrize("bad", ["Hi {", "Hi }", "{Given}", "{first name}", "{1x}", "{}", "{{x}"])
def test_malformed_braces_are_errors(bad: str) -> None:
    with pytest.raises(TemplateError):
        placeholders(bad)
    with pytest.raises(TemplateError):
        render(bad, {})


names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@settings(FAST, max_examples=100)
@given(st.lists(names, min_size=1, max_size=6), st.sets(names, max_size=4))
def test_validate_reports_exactly_the_unknown_names(used: list[str], known: set[str]) -> None:
    tpl = " ".join("{" + n + "}" for n in used)
    unknown = [n for n in dict.fromkeys(used) if n not in known]
    if not unknown:
        validate_template(tpl, known)
        return
    with pytest.raises(TemplateError) as exc:
        validate_template(tpl, known)
    reported = str(exc.value).split(";")[0]
    assert re.findall(r"\{([a-z0-9_]+)\}", reported) == unknown


# ---------------------------------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------------------------------


def test_find_links_stops_at_whitespace_and_strips_trailing_punctuation() -> None:
    text = (
        "Go to https://ex.com/a?b=1. Or (http://ex.org/x), 'https://ex.net/y'! "
        "HTTPS://EX.COM/Z; see https://en.wikipedia.org/wiki/Foo_(bar)? and ftp://no.pe https://"
    )
    assert find_links(text) == [
        "https://ex.com/a?b=1",
        "http://ex.org/x",
        "https://ex.net/y",
        "HTTPS://EX.COM/Z",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
    ]
    assert find_links("no links here, http:// nor https://.") == []
    assert find_links("same https://a.b twice https://a.b") == ["https://a.b", "https://a.b"]


def test_shorten_links_replaces_each_occurrence_in_order() -> None:
    text = "A https://ex.com/long and https://ex.com/long/more, then https://ex.com/long."
    new, mapping = shorten_links(text, lambda i, url: f"https://s.io/{i}")
    assert new == "A https://s.io/0 and https://s.io/1, then https://s.io/2."
    assert mapping == [
        (0, "https://ex.com/long", "https://s.io/0"),
        (1, "https://ex.com/long/more", "https://s.io/1"),
        (2, "https://ex.com/long", "https://s.io/2"),
    ]
    assert shorten_links("nothing", lambda i, u: "x") == ("nothing", [])


words = st.text(alphabet=string.ascii_letters + " ,.!?\n", max_size=20)
urls = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}.com/{path}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    # never ending in punctuation that find_links strips
    st.from_regex(r"([A-Za-z0-9_\-/=?&]{0,14}[A-Za-z0-9_/=])?", fullmatch=True),
)


@settings(FAST, max_examples=200)
@given(st.lists(st.tuples(words, urls), max_size=5), words)
def test_shorten_links_replaces_every_link_and_keeps_the_rest(chunks: list[tuple[str, str]], tail: str) -> None:
    # Separate each URL from surrounding prose by whitespace so its extent is unambiguous.
    text = "".join(f"{w} {u} " for w, u in chunks) + tail
    new, mapping = shorten_links(text, lambda i, url: f"<{i}>")
    assert [m[1] for m in mapping] == [u for _, u in chunks]
    assert [m[0] for m in mapping] == list(range(len(chunks)))
    assert new == "".join(f"{w} <{i}> " for i, (w, _) in enumerate(chunks)) + tail
    assert find_links(new) == []


def test_new_token_is_unique_and_url_safe() -> None:
    tokens = {new_token() for _ in range(10_000)}
    assert len(tokens) == 10_000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{12}", t) for t in tokens)
    assert len(new_token(16)) == 22
    with pytest.raises(ValueError):
        new_token(4)


def test_shortening_warning_only_when_parts_grow() -> None:
    before = A * 150 + " https://ex.com/x"  # 167 septets, 2 parts
    assert shortening_warning(before, A * 150 + " https://s.io/1") is None  # 165: still 2 parts
    assert shortening_warning(A * 140 + " https://e.co", A * 140 + " https://short.example/abc") == (
        "shortening links makes the message 2 parts instead of 1 (GSM-7, 166 septets)"
    )
    warning = shortening_warning("Hi https://e.co", "Hi https://ж.example/" + A * 50)
    assert warning is not None and "(UCS-2, 71 UTF-16 code units; was GSM-7)" in warning
    assert shortening_warning(A * 161, A * 10) is None
