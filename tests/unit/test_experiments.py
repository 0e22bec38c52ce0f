from __future__ import annotations

import math
import random
from collections import Counter
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_response.experiments import (
    VariantStats,
    WinnerDecision,
    assign_holdout,
    assign_variants,
    pick_winner,
    sample_split,
    z_test_two_proportions,
)

PHONES = [f"+4670{i:07d}" for i in range(1000)]
VARIANTS = ["A", "B", "C"]


def shuffled(xs: list[str], seed: int = 7) -> list[str]:
    out = list(xs)
    random.Random(seed).shuffle(out)
    return out


# --- holdout -------------------------------------------------------------------------------------


def test_holdout_is_deterministic_and_order_independent() -> None:
    first = assign_holdout(PHONES, 10, "wave-1")
    assert assign_holdout(PHONES, 10, "wave-1") == first
    assert assign_holdout(shuffled(PHONES), 10, "wave-1") == first
    assert assign_holdout(tuple(reversed(PHONES)), 10, "wave-1") == first


def test_holdout_differs_by_seed() -> None:
    assert assign_holdout(PHONES, 10, "wave-1")[1] != assign_holdout(PHONES, 10, "wave-2")[1]


def test_holdout_exact_size_disjoint_and_sorted() -> None:
    treatment, holdout = assign_holdout(PHONES, 12.5, "s")
    assert len(holdout) == 125
    assert len(treatment) == 875
    assert not set(treatment) & set(holdout)
    assert set(treatment) | set(holdout) == set(PHONES)
    assert treatment == sorted(treatment)
    assert holdout == sorted(holdout)


def test_holdout_matches_documented_hash_rule() -> None:
    import hashlib

    phones = PHONES[:50]
    expected = sorted(phones, key=lambda p: hashlib.sha256(f"s:{p}".encode()).digest())[:5]
    assert assign_holdout(phones, 10, "s")[1] == sorted(expected)


@pytest.mark.parametrize("pct", [-0.1, 50.01, 100, math.nan, math.inf])
def test_holdout_pct_out_of_bounds(pct: float) -> None:
    with pytest.raises(ValueError, match="holdout pct"):
        assign_holdout(PHONES, pct, "s")


def test_holdout_bounds_inclusive_and_edge_cases() -> None:
    assert assign_holdout(PHONES, 0, "s") == (sorted(PHONES), [])
    treatment, holdout = assign_holdout(PHONES, 50, "s")
    assert len(holdout) == len(treatment) == 500
    assert assign_holdout([], 10, "s") == ([], [])


def test_holdout_collapses_duplicate_phones() -> None:
    treatment, holdout = assign_holdout(PHONES[:10] * 3, 20, "s")
    assert len(holdout) == 2
    assert len(treatment) == 8


# --- variants ------------------------------------------------------------------------------------


def test_variants_deterministic_order_independent_and_balanced() -> None:
    first = assign_variants(PHONES, VARIANTS, "s")
    assert assign_variants(shuffled(PHONES), VARIANTS, "s") == first
    assert set(first) == set(PHONES)
    sizes = Counter(first.values())
    assert set(sizes) == set(VARIANTS)
    assert max(sizes.values()) - min(sizes.values()) <= 1
    assert first != assign_variants(PHONES, VARIANTS, "other-seed")


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 100, 101])
def test_variants_balanced_for_any_size(n: int) -> None:
    sizes = Counter(assign_variants(PHONES[:n], ["A", "B", "C", "D"], "s").values())
    counts = [sizes.get(v, 0) for v in "ABCD"]
    assert sum(counts) == n
    assert max(counts) - min(counts) <= 1


def test_variants_validation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        assign_variants(PHONES, [], "s")
    with pytest.raises(ValueError, match="duplicate"):
        assign_variants(PHONES, ["A", "B", "A"], "s")


def test_single_variant_gets_everyone() -> None:
    assert set(assign_variants(PHONES[:20], ["only"], "s").values()) == {"only"}


# --- sample split --------------------------------------------------------------------------------


def test_sample_split_exact_size_deterministic_and_balanced() -> None:
    split = sample_split(PHONES, 200, ["A", "B"], "s")
    assert list(split) == ["A", "B"]
    picked = split["A"] + split["B"]
    assert len(picked) == len(set(picked)) == 200
    assert set(picked) <= set(PHONES)
    assert len(split["A"]) == len(split["B"]) == 100
    assert all(v == sorted(v) for v in split.values())
    assert sample_split(shuffled(PHONES), 200, ["A", "B"], "s") == split
    assert sample_split(PHONES, 200, ["A", "B"], "t") != split


def test_sample_split_edges_and_validation() -> None:
    assert sample_split(PHONES, 0, ["A", "B"], "s") == {"A": [], "B": []}
    full = sample_split(PHONES[:9], 9, ["A", "B"], "s")
    assert sorted(full["A"] + full["B"]) == sorted(PHONES[:9])
    with pytest.raises(ValueError, match="sample_size"):
        sample_split(PHONES[:9], 10, ["A", "B"], "s")
    with pytest.raises(ValueError, match="sample_size"):
        sample_split(PHONES, -1, ["A", "B"], "s")
    with pytest.raises(ValueError, match="duplicate"):
        sample_split(PHONES, 10, ["A", "A"], "s")


# --- z-test --------------------------------------------------------------------------------------


def test_z_test_known_values() -> None:
    # 60/200 vs 40/200: pooled 0.25, se = sqrt(.25 * .75 * (2/200)) = sqrt(0.001875) -> z = 4/sqrt(3).
    z, p = z_test_two_proportions(60, 200, 40, 200)
    assert z == pytest.approx(4 / math.sqrt(3), rel=1e-12)
    assert z == pytest.approx(2.3094, abs=1e-4)
    assert p == pytest.approx(0.010461, abs=1e-6)
    assert p == pytest.approx(1 - NormalDist().cdf(z), abs=1e-12)
    # 30/100 vs 20/100: same rates, half the sample -> z = 0.1 / sqrt(0.00375), p ~ 0.05124.
    z, p = z_test_two_proportions(30, 100, 20, 100)
    assert z == pytest.approx(1.63299, abs=1e-5)
    assert p == pytest.approx(0.05124, abs=1e-5)


def test_z_test_is_one_sided() -> None:
    z, p = z_test_two_proportions(40, 200, 60, 200)
    assert z == pytest.approx(-4 / math.sqrt(3))
    assert p == pytest.approx(1 - 0.010461, abs=1e-6)
    assert z_test_two_proportions(50, 200, 50, 200) == (0.0, 0.5)


@pytest.mark.parametrize(
    "args", [(0, 0, 5, 10), (5, 10, 0, 0), (0, 0, 0, 0), (0, 100, 0, 100), (100, 100, 50, 50)]
)
def test_z_test_degenerate_inputs(args: tuple[int, int, int, int]) -> None:
    assert z_test_two_proportions(*args) == (0.0, 1.0)


@pytest.mark.parametrize("args", [(11, 10, 1, 10), (-1, 10, 1, 10), (1, 10, 1, -1)])
def test_z_test_rejects_impossible_counts(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        z_test_two_proportions(*args)


# --- winner --------------------------------------------------------------------------------------


def test_variant_stats_rate_and_validation() -> None:
    assert VariantStats("A", 200, 50).rate == 0.25
    assert VariantStats("A", 0, 0).rate == 0.0
    with pytest.raises(ValueError):
        VariantStats("A", 10, 11)
    with pytest.raises(ValueError):
        VariantStats("A", -1, 0)


def test_pick_winner_significant() -> None:
    stats = [VariantStats("A", 200, 40), VariantStats("B", 200, 60)]
    d = pick_winner(stats)
    assert isinstance(d, WinnerDecision)
    assert d.winner == "B"
    assert d.metric == "click_rate"
    assert d.p_value == pytest.approx(0.010461, abs=1e-6)
    assert d.reason.startswith("significant")
    assert d.stats == tuple(stats)
    assert pick_winner(stats) == d  # deterministic


def test_pick_winner_not_significant_falls_back() -> None:
    stats = [VariantStats("A", 100, 20), VariantStats("B", 100, 30)]
    d = pick_winner(stats, metric="conversion_rate")
    assert d.winner == "A"
    assert d.metric == "conversion_rate"
    assert d.p_value == pytest.approx(0.05124, abs=1e-5)
    assert "no significant difference (p=0.05124" in d.reason
    assert pick_winner(stats, default="B").winner == "B"
    # A looser alpha makes the same data significant.
    assert pick_winner(stats, alpha=0.1).winner == "B"


def test_pick_winner_below_minimum_sample() -> None:
    stats = [VariantStats("A", 200, 10), VariantStats("B", 29, 29)]
    d = pick_winner(stats)
    assert d.winner == "A"
    assert d.p_value is None
    assert "minimum sample not reached" in d.reason
    assert "B=29" in d.reason
    assert pick_winner(stats, default="B").winner == "B"
    assert pick_winner(stats, min_per_variant=29).winner == "B"


def test_pick_winner_compares_top_two_and_breaks_ties_by_name() -> None:
    # C and B tie for best; B wins the tie by name, and C (runner-up) is tested against it: p = 0.5.
    stats = [VariantStats("A", 300, 10), VariantStats("C", 300, 90), VariantStats("B", 300, 90)]
    d = pick_winner(stats)
    assert d.winner == "A"
    assert d.p_value == 0.5
    assert "best B" in d.reason
    # Third variant far behind does not matter; top two decide.
    stats = [VariantStats("A", 300, 10), VariantStats("B", 300, 90), VariantStats("C", 300, 40)]
    assert pick_winner(stats).winner == "B"


def test_pick_winner_single_variant_and_validation() -> None:
    d = pick_winner([VariantStats("A", 100, 5)])
    assert d.winner == "A"
    assert d.p_value is None
    ok = [VariantStats("A", 100, 5), VariantStats("B", 100, 6)]
    with pytest.raises(ValueError, match="metric"):
        pick_winner(ok, metric="open_rate")
    with pytest.raises(ValueError, match="alpha"):
        pick_winner(ok, alpha=0)
    with pytest.raises(ValueError, match="default"):
        pick_winner(ok, default="Z")
    with pytest.raises(ValueError, match="at least one"):
        pick_winner([])
    with pytest.raises(ValueError, match="duplicate"):
        pick_winner([VariantStats("A", 100, 5), VariantStats("A", 100, 6)])
    with pytest.raises(ValueError, match="min_per_variant"):
        pick_winner(ok, min_per_variant=-1)


# --- properties ----------------------------------------------------------------------------------

phone_lists = st.lists(st.from_regex(r"\+46[0-9]{6}", fullmatch=True), max_size=80)


@settings(max_examples=60, deadline=None)
@given(phones=phone_lists, pct=st.floats(0, 50), seed=st.text(max_size=8), perm=st.randoms(use_true_random=False))
def test_property_holdout_partition(phones: list[str], pct: float, seed: str, perm: random.Random) -> None:
    treatment, holdout = assign_holdout(phones, pct, seed)
    unique = set(phones)
    assert set(treatment) | set(holdout) == unique
    assert not set(treatment) & set(holdout)
    assert len(holdout) == round(len(unique) * pct / 100)
    reordered = list(phones)
    perm.shuffle(reordered)
    assert assign_holdout(reordered, pct, seed) == (treatment, holdout)


@settings(max_examples=60, deadline=None)
@given(
    phones=phone_lists,
    k=st.integers(1, 5),
    seed=st.text(max_size=8),
    perm=st.randoms(use_true_random=False),
)
def test_property_variants_order_independent_and_balanced(
    phones: list[str], k: int, seed: str, perm: random.Random
) -> None:
    variants = [f"v{i}" for i in range(k)]
    assignment = assign_variants(phones, variants, seed)
    reordered = list(phones)
    perm.shuffle(reordered)
    assert assign_variants(reordered, variants, seed) == assignment
    assert set(assignment) == set(phones)
    counts = [list(assignment.values()).count(v) for v in variants]
    assert max(counts) - min(counts) <= 1


@settings(max_examples=60, deadline=None)
@given(
    s1=st.integers(0, 500), e1=st.integers(0, 500), s2=st.integers(0, 500), e2=st.integers(0, 500)
)
def test_property_z_test_antisymmetric_and_bounded(s1: int, e1: int, s2: int, e2: int) -> None:
    n1, n2 = s1 + e1, s2 + e2
    z, p = z_test_two_proportions(s1, n1, s2, n2)
    z_rev, p_rev = z_test_two_proportions(s2, n2, s1, n1)
    assert 0.0 <= p <= 1.0
    assert z == pytest.approx(-z_rev)
    if z != 0.0:
        assert p + p_rev == pytest.approx(1.0)
