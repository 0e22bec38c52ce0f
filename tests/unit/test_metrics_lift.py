"""Wilson and Newcombe intervals against published worked values, and the GSM-7 pattern of the pricing.

Wilson: Newcombe (1998a), "Two-sided confidence intervals for the single proportion", Stat Med 17:857-872,
Table I, method 3 (score interval without continuity correction). Newcombe: Newcombe (1998b), "Interval
estimation for the difference between independent proportions", Stat Med 17:873-890, Table II, method 10
(hybrid score interval without continuity correction). Both tables give 4 decimals, computed with z = 1.96.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from sms_response.messages import GSM7_BASIC, GSM7_EXTENSION
from sms_response.metrics.lift import newcombe_lift, wilson
from sms_response.metrics.pricing import Pricing, gsm7_regex


@pytest.mark.parametrize(("hits", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
])
def test_wilson_matches_newcombe_table_i(hits: int, n: int, low: float, high: float) -> None:
    got = wilson(hits, n)
    assert (round(got[0], 4), round(got[1], 4)) == (low, high)


def test_wilson_of_an_empty_group_is_the_whole_range_and_bad_counts_are_refused() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= hits <= n"):
        wilson(5, 4)
    with pytest.raises(ValueError):
        wilson(-1, 4)


@pytest.mark.parametrize(("texted_hits", "texted", "holdout_hits", "holdout", "low", "high", "significant"), [
    (56, 70, 48, 80, 0.0524, 0.3339, True),  # (a)
    (9, 10, 3, 10, 0.1705, 0.8090, True),  # (b)
    (6, 7, 2, 7, 0.0582, 0.8062, True),  # (c)
    (5, 56, 0, 29, -0.0381, 0.1926, False),  # (d)
    (0, 10, 0, 20, -0.1611, 0.2775, False),  # (e)
    (0, 10, 0, 10, -0.2775, 0.2775, False),  # (f)
    (10, 10, 0, 20, 0.6791, 1.0, True),  # (g)
    (10, 10, 0, 10, 0.6075, 1.0, True),  # (h)
])
def test_newcombe_lift_matches_newcombe_table_ii(
    texted_hits: int, texted: int, holdout_hits: int, holdout: int, low: float, high: float, significant: bool
) -> None:
    lift = newcombe_lift(texted_hits, texted, holdout_hits, holdout)
    assert lift.lift == pytest.approx(texted_hits / texted - holdout_hits / holdout)
    assert lift.ci_low is not None and lift.ci_high is not None
    assert (round(lift.ci_low, 4), round(lift.ci_high, 4)) == (low, high)
    assert lift.significant is significant


def test_a_lift_below_the_holdout_is_negative_and_the_interval_mirrors() -> None:
    # Example (a) the other way round: 48/80 texted against 56/70 held out.
    lift = newcombe_lift(48, 80, 56, 70)
    assert lift.lift == pytest.approx(-0.2)
    assert lift.ci_low is not None and lift.ci_high is not None
    assert (round(lift.ci_low, 4), round(lift.ci_high, 4)) == (-0.3339, -0.0524)
    assert lift.significant is True


@pytest.mark.parametrize(("texted_hits", "texted", "holdout_hits", "holdout", "texted_rate", "holdout_rate"), [
    (0, 0, 3, 10, None, 0.3),
    (4, 10, 0, 0, 0.4, None),
    (0, 0, 0, 0, None, None),
])
def test_an_empty_group_gives_no_lift(
    texted_hits: int, texted: int, holdout_hits: int, holdout: int, texted_rate: float | None,
    holdout_rate: float | None,
) -> None:
    lift = newcombe_lift(texted_hits, texted, holdout_hits, holdout)
    assert (lift.texted_rate, lift.holdout_rate) == (texted_rate, holdout_rate)
    assert (lift.lift, lift.ci_low, lift.ci_high, lift.significant) == (None, None, None, None)


def test_gsm7_pattern_accepts_exactly_the_gsm_03_38_tables() -> None:
    pattern = gsm7_regex()
    # Every character is a \\uXXXX escape, which PostgreSQL's and Python's regex dialects read alike.
    assert re.fullmatch(r"\^\[(\\u[0-9a-f]{4})+\]\*\$", pattern)
    gsm7 = re.compile(pattern)
    assert gsm7.fullmatch("".join(sorted(GSM7_BASIC | GSM7_EXTENSION)))
    assert gsm7.fullmatch("Spring sale: 20€ off [today] ^{x}\\|~ @£¥ ÄÖÑÜ§¿ äöñüà\n")
    for text in ("🌸", "ç", "`", "Ő", "\t"):  # an emoji, a lower-case c-cedilla, a backtick, ...: UCS-2
        assert not gsm7.fullmatch("Hello " + text), repr(text)


def test_pricing_refuses_negative_credits() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Pricing(gsm7=Decimal(-1))
