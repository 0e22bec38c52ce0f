"""A/B(/n) message experiments for a campaign wave: holdout, variant assignment, winner selection.

A wave may carry several message variants. Part of the audience (the *holdout*) is recorded but never
sent, so lift can be measured against people who got nothing. A *sample* of the treatment group is
split across the variants; once its results are in, :func:`pick_winner` chooses the variant for the
full send with a one-sided two-proportion z-test and a stated minimum sample per variant.

Every assignment is a pure function of ``(phones, seed)``: phones are ranked by a salted SHA-256
hash, never by input order or by ``random``. Re-running a DAG task (retries, backfills, a different
database row order) therefore reproduces exactly the same holdout, sample and variant split, and the
assignment can be audited after the fact from the seed alone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

METRICS = frozenset({"click_rate", "conversion_rate"})
MAX_HOLDOUT_PCT = 50.0  # beyond half the audience the "treatment" would be the minority: almost surely a typo


def _rank(phones: Iterable[str], salt: str) -> list[str]:
    """Unique phones ordered by ``sha256(f"{salt}:{phone}")``.

    Duplicates are collapsed first (an audience is a set of people; a duplicate row must not count
    twice or land in two groups). The phone itself breaks the (practically impossible) digest tie
    so the order is total and thus independent of input order.
    """
    return sorted(set(phones), key=lambda p: (hashlib.sha256(f"{salt}:{p}".encode()).digest(), p))


def assign_holdout(phones: Sequence[str], pct: float, seed: str) -> tuple[list[str], list[str]]:
    """Split ``phones`` into ``(treatment, holdout)``, both sorted.

    Exactly ``round(n * pct / 100)`` phones (``n`` = unique phones) with the lowest
    ``sha256(f"{seed}:{phone}")`` are held out. Using a fixed count rather than a per-phone hash
    threshold makes the holdout size exact, which keeps lift reports comparable across waves.
    """
    if not (math.isfinite(pct) and 0.0 <= pct <= MAX_HOLDOUT_PCT):
        raise ValueError(f"holdout pct must be within [0, {MAX_HOLDOUT_PCT:g}], got {pct!r}")
    ranked = _rank(phones, seed)
    k = round(len(ranked) * pct / 100)
    return sorted(ranked[k:]), sorted(ranked[:k])


def _check_variants(variants: Sequence[str]) -> None:
    if len(variants) < 1:
        raise ValueError("at least one variant is required")
    dupes = sorted({v for v in variants if list(variants).count(v) > 1})
    if dupes:
        raise ValueError(f"duplicate variant names: {dupes}")


def assign_variants(phones: Sequence[str], variants: Sequence[str], seed: str) -> dict[str, str]:
    """Map each unique phone to a variant: rank by salted hash, deal round-robin.

    Dealing over a hash ranking (instead of ``hash % k``) guarantees group sizes differ by at most
    one, so small samples are not lopsided by chance. The first variants in ``variants`` receive the
    remainder. The salt is ``f"{seed}:variants"`` so that, when callers reuse one seed for holdout,
    sample and variants, the three draws are still independent of each other.
    """
    _check_variants(variants)
    k = len(variants)
    return {phone: variants[i % k] for i, phone in enumerate(_rank(phones, f"{seed}:variants"))}


def sample_split(
    phones: Sequence[str], sample_size: int, variants: Sequence[str], seed: str
) -> dict[str, list[str]]:
    """Choose ``sample_size`` phones deterministically and split them across ``variants``.

    Returns ``{variant: sorted phones}`` with every variant present (possibly empty). The sample is
    the ``sample_size`` lowest ``sha256(f"{seed}:sample:{phone}")``; asking for more phones than the
    audience holds is an error rather than a silent full send, since the sample phase exists
    precisely to *not* message everybody.
    """
    _check_variants(variants)
    ranked = _rank(phones, f"{seed}:sample")
    if not 0 <= sample_size <= len(ranked):
        raise ValueError(f"sample_size must be within [0, {len(ranked)}] (unique phones), got {sample_size}")
    assignment = assign_variants(ranked[:sample_size], variants, seed)
    split: dict[str, list[str]] = {v: [] for v in variants}
    for phone, variant in assignment.items():
        split[variant].append(phone)
    return {v: sorted(ps) for v, ps in split.items()}


@dataclass(frozen=True)
class VariantStats:
    """Sample-phase outcome of one variant.

    ``successes`` counts *unique* clickers (or converters, depending on the metric being judged),
    not events: a recipient who clicks five times is still one success, otherwise the binomial
    model behind the z-test does not hold.
    """

    variant: str
    recipients: int
    successes: int

    def __post_init__(self) -> None:
        if self.recipients < 0 or not 0 <= self.successes <= self.recipients:
            raise ValueError(
                f"variant {self.variant!r}: need 0 <= successes <= recipients, "
                f"got {self.successes}/{self.recipients}"
            )

    @property
    def rate(self) -> float:
        """Successes per recipient; 0.0 for an empty variant (nothing observed, nothing to rank)."""
        return self.successes / self.recipients if self.recipients else 0.0


@dataclass(frozen=True)
class WinnerDecision:
    """Outcome of :func:`pick_winner`; kept with the wave so the choice can be explained later.

    ``winner`` is ``None`` only when no variant exists to fall back on (never, given validation);
    ``p_value`` is ``None`` when no test was run (minimum sample not reached, single variant).
    """

    winner: str | None
    metric: str
    p_value: float | None
    reason: str
    stats: tuple[VariantStats, ...]


def z_test_two_proportions(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of H1: p1 > p2. Returns ``(z, one-sided p)``.

    Degenerate inputs (an empty group, or a pooled rate of exactly 0 or 1, where the standard error
    is zero) carry no evidence either way, so they return ``(0.0, 1.0)`` instead of dividing by 0.
    """
    for s, n in ((s1, n1), (s2, n2)):
        if n < 0 or not 0 <= s <= n:
            raise ValueError(f"need 0 <= successes <= n, got {s}/{n}")
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (s1 + s2) / (n1 + n2)
    if pooled <= 0.0 or pooled >= 1.0:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = (s1 / n1 - s2 / n2) / se
    # Upper normal tail P(Z >= z) = erfc(z / sqrt 2) / 2; erfc keeps precision for large z.
    return z, 0.5 * math.erfc(z / math.sqrt(2.0))


def pick_winner(
    stats: Sequence[VariantStats],
    *,
    metric: str = "click_rate",
    alpha: float = 0.05,
    min_per_variant: int = 30,
    default: str | None = None,
) -> WinnerDecision:
    """Choose the variant for the full send.

    The best and second-best variants (by rate, ties broken by variant name) are compared with a
    one-sided pooled z-test. The best wins only if ``p < alpha``; otherwise, and whenever any variant
    has fewer than ``min_per_variant`` recipients, the ``default`` (or the first variant listed) is
    kept: without evidence, stay with the control rather than chase noise. With more than two
    variants only the top two are tested (no multiple-comparison correction); losing to the
    runner-up is what matters for the send.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be within (0, 1), got {alpha!r}")
    if min_per_variant < 0:
        raise ValueError(f"min_per_variant must be >= 0, got {min_per_variant}")
    stats_t = tuple(stats)
    names = [s.variant for s in stats_t]
    _check_variants(names)
    if default is not None and default not in names:
        raise ValueError(f"default variant {default!r} is not among {names}")
    fallback = default if default is not None else names[0]

    def decide(winner: str, p_value: float | None, reason: str) -> WinnerDecision:
        return WinnerDecision(winner=winner, metric=metric, p_value=p_value, reason=reason, stats=stats_t)

    short = [s for s in stats_t if s.recipients < min_per_variant]
    if short:
        detail = ", ".join(f"{s.variant}={s.recipients}" for s in short)
        return decide(
            fallback,
            None,
            f"minimum sample not reached ({min_per_variant} recipients per variant; {detail}); "
            f"keeping {fallback}",
        )
    if len(stats_t) == 1:
        return decide(fallback, None, "only one variant; nothing to compare")

    best, second = sorted(stats_t, key=lambda s: (-s.rate, s.variant))[:2]
    _, p = z_test_two_proportions(best.successes, best.recipients, second.successes, second.recipients)
    if p < alpha:
        return decide(
            best.variant,
            p,
            f"significant: {best.variant} {metric} {best.rate:.2%} vs {second.variant} {second.rate:.2%} "
            f"(p={p:.4g} < alpha={alpha:g})",
        )
    return decide(
        fallback,
        p,
        f"no significant difference (p={p:.4g} >= alpha={alpha:g}; best {best.variant} {best.rate:.2%} "
        f"vs {second.variant} {second.rate:.2%}); keeping {fallback}",
    )
